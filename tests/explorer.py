"""The explorer in a real browser: Debian's chromium, headless, through Debian's chromium-driver
and Selenium, against a running devnet. Every page loads with no console error and shows the
figures the API gives; the chain page takes new blocks from the event stream without a reload;
a screenshot of each page, phone-sized and wide, goes to the output folder.

Usage: explorer.py API_URL DEVNET_HOME OUT_DIR AGORA_BIN (tests/explorer.sh starts the devnet),
or explorer.py --cometbft API_URL OUT_DIR against a node of a CometBFT network whose set has
validators by bond (tests/test_sys_cometbft.c runs it): the validators page, the chain page's
live blocks and their proposers, and the node's answers against /openapi.json."""
import json
import glob
import math
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import jsonschema_rs

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

if sys.argv[1] == "--cometbft":
    mode, (api, out), home, agora = "cometbft", sys.argv[2:4], None, None
else:
    mode, (api, home, out, agora) = "devnet", sys.argv[1:5]
failures = []


def get(path):
    with urllib.request.urlopen(api + path) as r:
        return json.load(r)


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def agr(s):
    """Base units as the page writes them."""
    v = int(s)
    whole, frac = divmod(v, 10**9)
    f = str(frac).rjust(9, "0").rstrip("0")
    return f"{whole:,}" + ("." + f if f else "") + " AGR"


opts = webdriver.ChromeOptions()
opts.binary_location = "/usr/bin/chromium"
for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"):
    opts.add_argument(a)
opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
driver.set_page_load_timeout(60)


def open_page(frag, name):
    """Loads a page, waits until it has its data, screenshots it wide and phone-sized, and
    fails on any console error."""
    driver.get(api + "/" + frag)
    WebDriverWait(driver, 60).until(lambda d: d.find_element(By.ID, "main").get_attribute("data-ready") == frag)
    driver.save_screenshot(os.path.join(out, name + ".png"))
    driver.set_window_size(390, 844)
    driver.save_screenshot(os.path.join(out, name + "-phone.png"))
    width = driver.execute_script("return document.documentElement.scrollWidth")
    check(width <= 400, f"{name}: fits a phone-sized window (page width {width})")
    driver.set_window_size(1280, 900)
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    check(not errors, f"{name}: no console errors {errors if errors else ''}")
    title = driver.find_element(By.TAG_NAME, "h1").text
    check(title not in ("Error", "Not found"), f"{name}: loads ({title})")


def text(id_):
    return driver.find_element(By.ID, id_).text


def devnet_pages():
    # the chain, and blocks arriving live
    chain_takes_blocks_live("chain")

    # a block and its first tx
    b1 = get("/v1/blocks/1")
    open_page("#/block/1", "block")
    check(text("tx-count") == str(b1["tx_count"]), f"block: {b1['tx_count']} txs as the API")
    rows = driver.find_elements(By.CSS_SELECTOR, "#txs tr")
    check(len(rows) == len(b1["txs"]), "block: one row per tx")
    tx = get("/v1/txs/" + b1["txs"][0]["hash"])
    open_page("#/tx/" + tx["hash"], "tx")
    check(text("tx-kind") == tx["tx"]["kind"], f"tx: kind {tx['tx']['kind']}")

    # a tx whose payload is a list of records: a table, a row each, addresses linked
    hot = [u["hotkey"] for u in get("/v1/subnets/1/metagraph")["uids"][:2]]
    sent = subprocess.run([agora, "--home", home, "--node", api, "--json", "send", "--from", "owner", hot[0], "0.001",
                           hot[1], "0.002", "--yes"], capture_output=True, text=True, timeout=120)
    mt = json.loads(sent.stdout or "{}").get("hash", "")
    check(sent.returncode == 0 and mt, f"tx: a multi_transfer sent ({sent.stderr.strip()[:200]})")
    if mt:
        open_page("#/tx/" + mt, "tx-multi")
        rows = driver.find_elements(By.CSS_SELECTOR, "#payload-recipients tr")
        check(len(rows) == 2, f"tx: the recipients are a table of 2 rows ({len(rows)})")
        check(len(driver.find_elements(By.CSS_SELECTOR, "#payload-recipients a")) == 2, "tx: each recipient links to its account")

    # an account with history
    sender = tx["tx"]["sender"]
    a0 = get("/v1/accounts/" + sender)
    open_page("#/account/" + sender, "account")
    a1 = get("/v1/accounts/" + sender)
    check(text("balance") in (agr(a0["balance"]), agr(a1["balance"])), "account: balance is the API's")
    hist = get(f"/v1/accounts/{sender}/txs?limit=20")
    check(len(driver.find_elements(By.CSS_SELECTOR, "#history tr")) == len(hist["txs"]) > 0, "account: its history")

    # subnets, the metagraph, a hotkey
    subs = get("/v1/subnets")
    open_page("#/subnets", "subnets")
    check(len(driver.find_elements(By.CSS_SELECTOR, "#subnets tr")) == len(subs["subnets"]), "subnets: one row each")
    for _ in range(600):  # charts need two epochs
        if len(get("/v1/subnets/1/epochs?limit=2")["epochs"]) == 2:
            break
        time.sleep(0.1)
    mg = get("/v1/subnets/1/metagraph")
    open_page("#/subnet/1", "metagraph")
    check(len(driver.find_elements(By.CSS_SELECTOR, "#metagraph tr")) == mg["neurons"], f"metagraph: {mg['neurons']} UIDs")
    charts = driver.find_elements(By.CSS_SELECTOR, "svg.chart polyline")
    check(len(charts) > 0, "metagraph: charts over epochs")
    hot = mg["uids"][0]["hotkey"]
    open_page("#/hotkey/" + hot, "hotkey")

    # the model: its asset, holders and offers
    model = get("/v1/subnets/1")["model"]["model_id"]
    asset = get("/v1/assets/" + model)
    offers = get("/v1/offers?model=" + model)
    open_page("#/asset/" + model, "asset")
    check(len(driver.find_elements(By.CSS_SELECTOR, "#holders tr")) == len(asset["holders"]), "asset: its holders")
    check(len(driver.find_elements(By.CSS_SELECTOR, "#offers tr")) == len(offers["offers"]) > 0, "asset: its offers")

    # the training subnet (tests/explorer.sh adds it): its final rounds and each trainer's shares
    for _ in range(1200):
        t0 = get("/v1/subnets/2/training?rounds=30")
        if t0["finalized"] >= 1:
            break
        time.sleep(0.1)
    check(t0["finalized"] >= 1, f"training: a round is final ({t0['finalized']})")
    open_page("#/training/2", "training")
    t1 = get("/v1/subnets/2/training?rounds=30")
    shown = int(text("round"))
    check(t0["round"] <= shown <= t1["round"], f"training: round {shown} is the API's")
    rows = len(driver.find_elements(By.CSS_SELECTOR, "#rounds tr"))
    check(len(t0["rounds"]) <= rows <= len(t1["rounds"]) and rows > 0, f"training: {rows} final rounds as the API")
    t = t1 if rows == len(t1["rounds"]) else t0
    losses = [r["val_loss_micro"] for r in t["rounds"] if r.get("val_loss_micro") is not None]
    check(len(losses) == len(t["rounds"]), f"training: every final round has its validators' loss ({losses})")
    first = driver.find_elements(By.CSS_SELECTOR, "#rounds tr")[0].find_elements(By.TAG_NAME, "td")
    check(first[-1].text == f"{t['rounds'][0]['val_loss_micro'] / 1e6:.4f}", f"training: loss {first[-1].text} is the API's")
    check(len(driver.find_elements(By.CSS_SELECTOR, "#loss-chart svg polyline")) == 1, "training: the validation-loss curve")
    shares = {}
    for r in t["rounds"]:
        for e in r["entries"]:
            shares[e["hotkey"]] = shares.get(e["hotkey"], 0) + int(e["shares"])
    cells = [tr.find_elements(By.TAG_NAME, "td") for tr in driver.find_elements(By.CSS_SELECTOR, "#shares tr")]
    check(len(cells) == len(shares) > 0, f"training: shares of {len(shares)} trainers")
    check(all(int(c[1].text) == shares.get(hk, -1) for c, hk in
              zip(cells, [a.get_attribute("href").split("/")[-1] for a in driver.find_elements(By.CSS_SELECTOR, "#shares tr td a")])),
          "training: each trainer's shares are the API's")

    # a dispute: the owner pays the cheating miner (the cheapest offer) for an answer, which fails
    # the check and is disputed at once; the devnet's validator judges it
    cheat = min(offers["offers"], key=lambda o: int(o["price_out_per_1k"]))["provider"]
    uid = next(u["uid"] for u in get("/v1/subnets/1/metagraph")["uids"] if u["hotkey"] == cheat)
    subprocess.run([agora, "--home", home, "--node", api, "--json", "infer", "--miner", str(uid), "--pay-from", "owner",
                    "--yes", "--dispute", "-n", "8", "--seed", "5", "--temperature", "0", "Once upon a time"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
    files = glob.glob(os.path.join(home, "disputes", "*.json"))
    check(len(files) == 1, f"dispute: the cheater's answer was disputed ({len(files)} evidence files)")
    case = os.path.basename(files[0])[:-5] if files else "0" * 64
    # the case is open for 40 blocks or more (8 s); the list redraws as its phase changes, so it is
    # read in one script
    before = get("/v1/disputes")["disputes"]
    open_page("#/disputes", "disputes")
    rows, listed = driver.execute_script(
        "return [document.querySelectorAll('#disputes tr').length, "
        "!!document.querySelector('#disputes a[href=\"#/dispute/' + arguments[0] + '\"]')];", case)
    after = get("/v1/disputes")["disputes"]
    check(rows in (len(before), len(after)) and listed, f"disputes: the {rows} open case(s) as the API, this one listed")
    # pages: the list is cut at limit (1..100), counts every match, and says where to go on
    p0, p1 = get("/v1/disputes?limit=1"), get("/v1/disputes?limit=1&offset=1")
    check(len(p0["disputes"]) == 1 and p0["disputes"][0]["id"] == case and p0["total"] == 1 and p0["next"] is None
          and p1["disputes"] == [] and p1["total"] == 1, f"disputes: paged by limit and offset ({p0['total']}, {p1})")
    try:
        get("/v1/disputes?limit=101")
        check(False, "disputes: a limit over 100 is refused")
    except urllib.error.HTTPError as e:
        check(e.code == 400, f"disputes: a limit over 100 is refused ({e.code})")
    for _ in range(1200):
        d = get("/v1/disputes/" + case)
        if d["status"] != "open":
            break
        time.sleep(0.1)
    check(d["status"] == "fault", f"dispute: judged a fault ({d['status']})")
    open_page("#/dispute/" + case, "dispute")
    check(text("dispute-status") == d["status"], f"dispute: status {d['status']} as the API")
    check(text("dispute-slashed") == agr(d["slashed"]), f"dispute: slashed {agr(d['slashed'])} as the API")
    check(len(driver.find_elements(By.CSS_SELECTOR, "#committee tr")) == len(d["committee"]) > 0,
          f"dispute: its committee of {len(d['committee'])}")
    bond = get("/v1/bonds/" + cheat)
    open_page("#/hotkey/" + cheat, "provider")
    check(text("faults") == str(bond["disputes"]["faults"]) and bond["disputes"]["faults"] >= 1,
          f"hotkey: the provider's {bond['disputes']['faults']} fault(s) as the API")

    # the consensus validators: a solo devnet's one block producer
    vals, st = get("/v1/validators"), get("/v1/status")
    open_page("#/validators", "validators")
    check(text("vconsensus") == vals["consensus"] == "solo", f"validators: consensus {vals['consensus']} as the API")
    check(text("vcount") == str(len(vals["validators"])), f"validators: {len(vals['validators'])} in the set as the API")
    check(text("vbonded") == str(len(vals["bonded"])), "validators: the bonded keys as the API")
    producer = driver.find_element(By.CSS_SELECTOR, "#main p a").text
    check(st["proposer"].startswith(producer[:12]) and st["proposer"].endswith(producer[-6:]),
          f"validators: the block producer is the API's ({producer})")

    # search
    open_page("#/", "chain-again")
    box = driver.find_element(By.ID, "q")
    box.send_keys(sender)
    box.submit()
    WebDriverWait(driver, 30).until(lambda d: d.find_element(By.ID, "main").get_attribute("data-ready") == "#/account/" + sender)
    check(driver.find_element(By.CLASS_NAME, "mono").text == sender, "search: an address opens its account")
    # a page left behind gives its event stream back: browsers keep 6 connections per host, and
    # pages that kept theirs made a request after a few quick navigations wait forever
    driver.set_script_timeout(5)
    answered = 0
    for i in range(10):
        driver.get("about:blank")
        driver.get(api + "/#/subnets")
        WebDriverWait(driver, 60).until(lambda d: d.find_element(By.ID, "main").get_attribute("data-ready") == "#/subnets")
        try:
            answered += driver.execute_async_script(
                "const done = arguments[arguments.length - 1];"
                "fetch('/v1/status').then(r => r.json()).then(s => done(s.height > 0 ? 1 : 0), () => done(0));")
        except Exception:
            pass
    check(answered == 10, f"navigation: every request answered after quick navigations ({answered} of 10)")


def chain_takes_blocks_live(name):
    """The chain page shows the API's height, then takes a new block without a reload."""
    h0 = get("/v1/status")["height"]
    open_page("#/", name)
    # the cards are of one status: read them until the API is at the same height
    for _ in range(50):
        shown, issued, burned = int(text("height")), text("issued"), text("burned")
        st = get("/v1/status")
        if st["height"] == shown and int(text("height")) == shown:
            break
        time.sleep(0.1)
    check(st["height"] == shown, f"{name}: height {shown} is the API's")
    check(issued == agr(st["supply"]["issued"]), f"{name}: supply issued is the API's ({issued} vs {agr(st['supply']['issued'])})")
    check(burned == agr(st["supply"]["burned"]), f"{name}: burned is the API's ({burned} vs {agr(st['supply']['burned'])})")
    if "block_time_ms" in st:
        check(text("block-time") == f"{st['block_time_ms']} ms", f"{name}: block time is the API's")
    else:  # CometBFT: the interval the last ten blocks took, as of the height the page opened at
        bt, h1 = text("block-time"), get("/v1/status")["height"]

        def avg(h):
            ts = [get(f"/v1/blocks/{k}?txs=false")["time_ms"] for k in (h, max(1, h - 9))]
            n = min(h, 10)
            return math.floor((ts[0] - ts[1]) / (n - 1) + 0.5) if n > 1 else None

        seen = {f"{avg(h)} ms (last blocks)" for h in range(h0, h1 + 1)}
        check(bt in seen, f"{name}: block time {bt} is that of the last blocks ({sorted(seen)})")
    driver.execute_script("window.__same_page = 1")
    top = lambda d: int(d.find_element(By.CSS_SELECTOR, "#blocks tr td a").text)
    first = top(driver)
    WebDriverWait(driver, 60).until(lambda d: top(d) > first)
    newest = top(driver)
    check(newest > first, f"{name}: block {newest} arrived live (was {first})")
    check(driver.execute_script("return window.__same_page") == 1, f"{name}: without a reload")
    check(int(text("tip")) >= newest, f"{name}: the live height in the header follows")


def cometbft_pages():
    """A CometBFT network's validators page: the set (each key's address and power, who bonded
    it) and the keys bonded by accounts, as the API gives them; its chain page, live, each block
    naming its proposer; and its answers against the API's description."""
    open_page("#/validators", "cometbft-validators")
    # A key bonded lately gains power epoch by epoch (every 10 blocks here), so the page may
    # have drawn the set just before a change the API then shows: the API is read right after
    # the page, and the page drawn again while the two straddle a change (5 times at most).
    # The page redraws itself as blocks arrive, so it is read in one go.
    for _ in range(5):
        page = driver.execute_script(
            "const t = (id) => document.getElementById(id).innerText;"
            "return {rows: [...document.querySelectorAll('#vset tr')].map((tr) => [...tr.cells].map((td) => td.innerText)),"
            " power: t('vpower'), consensus: t('vconsensus'), count: t('vcount'), bonded: t('vbonded')}")
        rows, power = page["rows"], page["power"]
        vals = get("/v1/validators")
        want = sorted((v["consensus_key"][:8], str(v["power"])) for v in vals["validators"])
        got = sorted((r[0][:8], r[2]) for r in rows)
        if got == want and power == str(vals["total_power"]):
            break
        driver.refresh()
        WebDriverWait(driver, 60).until(lambda d: d.find_element(By.ID, "main").get_attribute("data-ready") == "#/validators")
    check(page["consensus"] == vals["consensus"] == "cometbft", f"validators: consensus {vals['consensus']} as the API")
    check(page["count"] == str(len(vals["validators"])), f"validators: {len(vals['validators'])} in the set as the API")
    check(power == str(vals["total_power"]), f"validators: total power {vals['total_power']} as the API")
    check(len(vals["bonded"]) >= 1 and page["bonded"] == str(len(vals["bonded"])),
          f"validators: {len(vals['bonded'])} key(s) bonded by accounts as the API")
    check(got == want, f"validators: each key of the set with its power as the API ({got} vs {want})")
    owners = {b["consensus_key"][:8] for b in vals["bonded"]}
    by = [r for r in rows if r[0][:8] in owners]
    check(all(r[4] != "genesis or sudo" for r in by) and all(r[4] == "genesis or sudo" for r in rows if r not in by),
          "validators: the set names who bonded each key, and no one for the genesis keys")
    bonds = driver.find_elements(By.CSS_SELECTOR, "#vbonds tr")
    check(len(bonds) == len(vals["bonded"]), f"validators: {len(bonds)} rows of bonds as the API's {len(vals['bonded'])}")
    addresses = {v["address"] for v in vals["validators"]}
    check(sorted(r[1] for r in rows) == sorted(short(a) for a in addresses), "validators: each key's CometBFT address as the API")
    chain_takes_blocks_live("cometbft-chain")
    # each block listed names its proposer by the CometBFT address the API gives, one of the set's
    shown = driver.execute_script(  # in one go: blocks arrive meanwhile and replace rows
        "return [...document.querySelectorAll('#blocks tr')].map((tr) => [...tr.cells].map((td) => td.textContent))")
    named = [(r[3], get(f"/v1/blocks/{r[0]}?txs=false").get("proposer_address", "")) for r in shown]
    check(named and all(p == short(a) for p, a in named), f"chain: each block's proposer as the API ({named[:2]}…)")
    check(any(a in addresses for _, a in named), "chain: the proposers are keys of the set")
    # what a CometBFT node answers conforms to the API's description (schemathesis checks a solo node)
    spec = get("/openapi.json")
    for path, schema in (("/v1/status", op_schema(spec, "/v1/status")), ("/v1/validators", op_schema(spec, "/v1/validators")),
                         ("/v1/blocks/latest", {"$ref": "#/components/schemas/Block"})):
        errors = [e.message for e in jsonschema_rs.validator_for({**schema, "components": spec["components"]}).iter_errors(get(path))]
        check(not errors, f"{path} of a CometBFT node conforms to /openapi.json {errors[:3]}")


def short(s):
    """As the page shortens a long hex string or address."""
    return s[:12] + "…" + s[-6:] if len(s) > 20 else s


def op_schema(spec, path):
    return spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]


try:
    devnet_pages() if mode == "devnet" else cometbft_pages()
finally:
    driver.quit()

print(f"{len(failures)} failed")
sys.exit(1 if failures else 0)
