"""bench_explorer's Python half: fills subnet 1 of a fresh node with 256 UIDs (registrations
signed with agora_sdk), then in Debian's headless chromium measures the metagraph page (from
navigation to the page holding its data, rendered) against the API call it makes (fetch of
/v1/subnets/1/metagraph in the same browser), and the explorer's shell alone (navigation to a
page that needs no data: HTML, CSS and script loaded and run), and the browser's floor (a
navigation to a tiny document, the stylesheet, until its load event). Prints: paint_ms api_ms
uids shell_ms floor_ms."""
import json
import os
import statistics
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from agora_sdk import Client, Keypair, load_keystore, tx

home, api = sys.argv[1], sys.argv[2]
c = Client(api)
st = c.status()
devs = [load_keystore(f"{home}/keys/dev{i}.json", chain_id=st["chain_id"]) for i in range(4)]
nonce = [c.account(d.address)["pending_nonce"] for d in devs]
last = None
for i in range(256):
    d = i % 4
    hot = Keypair.from_seed(bytes([i % 256, i // 256]) + bytes(29) + b"\x77")
    pay = tx.register(st["chain_id"], 1, devs[d].public_key, hot, 10**12)
    last = c.submit(tx.build(tx.REGISTER, st["chain_id"], devs[d], nonce[d], 10**7, pay))["hash"]
    nonce[d] += 1
c.wait(last, 120)
n = c.metagraph(1)["neurons"]
opts = webdriver.ChromeOptions()
opts.binary_location = "/usr/bin/chromium"
for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"):
    opts.add_argument(a)
drv = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
drv.set_script_timeout(30)
paint, call, shell, floor = [], [], [], []
try:
    for _ in range(6):
        drv.get("about:blank")
        drv.get(api + "/#/subnet/1")
        WebDriverWait(drv, 60).until(lambda x: x.find_element(By.ID, "main").get_attribute("data-ready") == "#/subnet/1")
        assert len(drv.find_elements(By.CSS_SELECTOR, "#metagraph tr")) == n
        paint.append(float(drv.find_element(By.ID, "main").get_attribute("data-ready-ms")))
        if os.environ.get("BENCH_EXPLORER_TIMING"):  # where the time goes
            print(drv.execute_script("return performance.getEntries().map(e => [e.name.replace(location.origin, ''), e.entryType, Math.round(e.startTime), Math.round(e.duration)])"), file=sys.stderr)
        call.append(drv.execute_async_script(
            "const done = arguments[arguments.length - 1], t = performance.now();"
            "fetch('/v1/subnets/1/metagraph').then(r => r.json()).then(() => done(performance.now() - t), e => done(-1));"))
        drv.get("about:blank")
        drv.get(api + "/#/no-such-page")
        WebDriverWait(drv, 60).until(lambda x: x.find_element(By.ID, "main").get_attribute("data-ready") == "#/no-such-page")
        shell.append(float(drv.find_element(By.ID, "main").get_attribute("data-ready-ms")))
        # the browser's own floor: a navigation to a tiny document from the same node (the
        # stylesheet, shown as text), until its load event
        drv.get("about:blank")
        drv.get(api + "/style.css")
        floor.append(float(drv.execute_script("return performance.getEntriesByType('navigation')[0].loadEventEnd")))
finally:
    drv.quit()
print(f"{statistics.median(paint[1:]):.1f} {statistics.median(call[1:]):.1f} {n} {statistics.median(shell[1:]):.1f} "
      f"{statistics.median(floor[1:]):.1f}")
