/* The Agora explorer: a page per view of the node's JSON API (docs/api.md), routed by the URL
 * fragment, live over the node's block stream. Every value from the chain is put in the page as
 * text (textContent), never as markup. */
'use strict';

const main = document.getElementById('main');
const tip = document.getElementById('tip');
let onBlock = null; /* the current page's live handler; one that awaits checks it is still this after */
let lastHeight = 0;

/* ---- helpers --------------------------------------------------------------------------------- */

function el(tag, props, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === 'text') e.textContent = v;
    else if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids) if (k !== null && k !== undefined) e.append(k instanceof Node ? k : String(k));
  return e;
}

async function api(path) {
  const r = await fetch(path, {headers: {Accept: 'application/json'}});
  let body = null;
  try { body = await r.json(); } catch (e) { /* not JSON */ }
  if (!r.ok) {
    const err = new Error(body && body.error ? body.error.message : 'HTTP ' + r.status);
    err.status = r.status;
    throw err;
  }
  return body;
}

/* Base units (a decimal string) as AGR, exactly. */
function agr(s) {
  if (s === null || s === undefined) return '—';
  const v = BigInt(s), unit = 1000000000n;
  const whole = v / unit, frac = (v % unit).toString().padStart(9, '0').replace(/0+$/, '');
  return whole.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',') + (frac ? '.' + frac : '') + ' AGR'; /* (toLocaleString is slow) */
}
const u16 = (x) => (x / 65535).toFixed(4);
const short = (s) => (s && s.length > 20 ? s.slice(0, 12) + '…' + s.slice(-6) : s);
const when = (ms) => new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
const link = (href, text, cls) => el('a', {href, text, class: cls || 'mono'});
const addr = (a) => (a ? link('#/account/' + a, short(a)) : '—');

function cards(items) {
  return el('div', {class: 'cards'}, ...items.map(([k, v, id]) =>
    el('div', {class: 'card'}, el('div', {class: 'k', text: k}), el('div', {class: 'v', id: id || null, 'data-k': k}, v))));
}

function table(cols, rows, id) {
  const head = el('tr', {}, ...cols.map((c) => el('th', {class: c.num ? 'num' : '', text: c.name})));
  const body = el('tbody', {id: id || null});
  for (const r of rows) body.append(row(cols, r));
  return el('div', {class: 'scroll'}, el('table', {}, el('thead', {}, head), body));
}
function row(cols, r) {
  return el('tr', {}, ...cols.map((c) => el('td', {class: c.num ? 'num' : ''}, c.get(r))));
}

function dl(pairs) {
  const d = el('dl');
  for (const [k, v] of pairs) d.append(el('dt', {text: k}), el('dd', {}, v));
  return d;
}

function page(title, ...kids) {
  document.title = title + ' · Agora explorer';
  main.replaceChildren(el('h1', {text: title}), ...kids);
}

function failed(e) {
  main.replaceChildren(el('h1', {text: e.status === 404 ? 'Not found' : 'Error'}), el('p', {class: 'bad', text: e.message}));
  document.title = 'Error · Agora explorer';
}

/* A line chart of series [{name, points: [[x, y]...]}] as SVG; y from 0 (or yMin when given, for
 * curves like a loss that never come near 0) to yMax (default: the largest y). */
const COLORS = ['#2455c3', '#c33d24', '#1e8a4c', '#8a5a00', '#7a2cb3', '#00838f', '#5d6b7a', '#b3126f'];
function chart(series, yMax, yMin) {
  const W = 800, H = 260, L = 48, B = 24, NS = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('class', 'chart');
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1);
  const lo = yMin || 0, top = Math.max(lo + 1e-9, yMax || Math.max(...series.flatMap((s) => s.points.map((p) => p[1]))));
  const X = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - 8), Y = (y) => H - B - ((y - lo) / (top - lo)) * (H - B - 8);
  const line = (x1_, y1_, x2_, y2_, c) => {
    const l = document.createElementNS(NS, 'line');
    Object.entries({x1: x1_, y1: y1_, x2: x2_, y2: y2_, stroke: c}).forEach(([k, v]) => l.setAttribute(k, v));
    svg.append(l);
  };
  const text = (x, y, t, anchor) => {
    const e = document.createElementNS(NS, 'text');
    Object.entries({x, y, 'font-size': 12, fill: '#667', 'text-anchor': anchor || 'start'}).forEach(([k, v]) => e.setAttribute(k, v));
    e.textContent = t;
    svg.append(e);
  };
  line(L, H - B, W - 8, H - B, '#ccc');
  line(L, 8, L, H - B, '#ccc');
  text(L - 4, 16, top.toPrecision(3), 'end');
  text(L - 4, H - B, lo ? lo.toPrecision(3) : '0', 'end');
  text(L, H - 6, String(x0));
  text(W - 8, H - 6, String(x1), 'end');
  series.forEach((s, i) => {
    const p = document.createElementNS(NS, 'polyline');
    p.setAttribute('fill', 'none');
    p.setAttribute('stroke', COLORS[i % COLORS.length]);
    p.setAttribute('stroke-width', 2);
    p.setAttribute('points', s.points.map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(' '));
    svg.append(p);
  });
  const legend = el('div', {class: 'legend'}, ...series.map((s, i) => el('span', {class: 'c' + (i % COLORS.length), text: '■ ' + s.name})));
  return el('div', {}, svg, legend);
}

/* ---- pages ----------------------------------------------------------------------------------- */

const blockCols = [
  {name: 'height', get: (b) => link('#/block/' + b.height, b.height)},
  {name: 'time', get: (b) => when(b.time_ms)},
  {name: 'txs', num: true, get: (b) => b.tx_count},
  {name: 'proposer', get: (b) => proposer(b)},
  {name: 'hash', get: (b) => el('span', {class: 'mono', text: short(b.hash)})},
];
/* A solo block's producer is an account; a CometBFT block names its proposer by CometBFT
 * address, which the validators page lists beside each consensus key. */
function proposer(b) {
  if (b.proposer) return addr(b.proposer);
  return b.proposer_address ? link('#/validators', short(b.proposer_address)) : '—';
}

/* Tokens the schedule has issued by height: block_reward halving every halving_interval. */
function scheduled(inc, height) {
  let total = 0n, reward = BigInt(inc.block_reward), h = 0n, H = BigInt(height), step = BigInt(inc.halving_interval || 0);
  if (!step) return reward * H;
  while (h < H && reward > 0n) {
    const n = (H - h < step ? H - h : step);
    total += n * reward;
    h += n;
    reward /= 2n;
  }
  return total;
}

async function chainPage() {
  const [st, inc] = await Promise.all([api('/v1/status'), api('/v1/incentive')]);
  const recent = [];
  for (let h = st.height; h >= 1 && recent.length < 10; h--) recent.push(api(`/v1/blocks/${h}?txs=false`));
  const blocks = await Promise.all(recent);
  const span = blocks.length > 1 ? (blocks[0].time_ms - blocks[blocks.length - 1].time_ms) / 1000 : 0;
  const ntx = blocks.slice(0, -1).reduce((a, b) => a + b.tx_count, 0);
  const sched = scheduled(inc, st.height);
  page('Chain ' + st.chain_id,
    cards([
      ['height', st.height, 'height'],
      /* a solo chain's is its setting; CometBFT's is what the last blocks took */
      ['block time', st.block_time_ms !== undefined ? st.block_time_ms + ' ms' :
        blocks.length > 1 ? Math.round(1000 * span / (blocks.length - 1)) + ' ms (last blocks)' : '—', 'block-time'],
      ['tx/s (last blocks)', span > 0 ? (ntx / span).toFixed(2) : '0', 'tps'],
      ['supply issued', agr(st.supply.issued), 'issued'],
      ['burned', agr(st.supply.burned), 'burned'],
      ['block rewards by the schedule', agr(sched.toString()), 'scheduled'],
      ['mempool', st.mempool.txs + ' txs', 'mempool'],
      ['consensus', st.consensus, 'consensus'],
    ]),
    el('h2', {text: 'Latest blocks'}),
    table(blockCols, blocks, 'blocks'));
  onBlock = async function self(b) {
    const s = await api('/v1/status'); /* the cards are always of one status */
    if (onBlock !== self) return; /* the page was left while the status came */
    document.getElementById('height').textContent = s.height;
    document.getElementById('issued').textContent = agr(s.supply.issued);
    document.getElementById('burned').textContent = agr(s.supply.burned);
    document.getElementById('mempool').textContent = s.mempool.txs + ' txs';
    const body = document.getElementById('blocks');
    const r = row(blockCols, b);
    r.className = 'new';
    body.prepend(r);
    while (body.children.length > 10) body.lastChild.remove();
  };
}

async function blockPage(h) {
  const b = await api('/v1/blocks/' + encodeURIComponent(h));
  page('Block ' + b.height,
    dl([['hash', el('span', {class: 'mono', text: b.hash})], ['time', when(b.time_ms)],
      ['previous', b.height > 1 ? link('#/block/' + (b.height - 1), b.prev_hash) : el('span', {class: 'mono', text: b.prev_hash})],
      ['proposer', proposer(b)], ['state root', el('span', {class: 'mono', text: b.state_root})],
      ['txs', el('span', {id: 'tx-count', text: b.tx_count})]]),
    el('h2', {text: 'Transactions'}),
    table([
      {name: 'hash', get: (t) => link('#/tx/' + t.hash, short(t.hash))},
      {name: 'kind', get: (t) => t.kind},
      {name: 'sender', get: (t) => addr(t.sender)},
      {name: 'fee', num: true, get: (t) => agr(t.fee)},
      {name: 'result', get: (t) => el('span', {class: t.result.code === 'ok' ? '' : 'bad', text: t.result.code})},
    ], b.txs || [], 'txs'));
}

function payloadValue(k, v) {
  if (v === undefined) return '';
  if (typeof v === 'string' && /^agora1/.test(v)) return addr(v);
  if ((k === 'dispute' || k === 'channel') && typeof v === 'string' && /^[0-9a-f]{64}$/.test(v)) return link(`#/${k}/${v}`, v);
  /* a list of records (a multi_transfer's recipients, a channel_claims' claims): a table */
  if (Array.isArray(v) && v.length && v.every((x) => x && typeof x === 'object' && !Array.isArray(x))) {
    const keys = [...new Set(v.flatMap((x) => Object.keys(x)))];
    return table(keys.map((c) => ({name: c, get: (r) => payloadValue(c, r[c])})), v, 'payload-' + k);
  }
  if (typeof v === 'object' && v !== null) return el('span', {class: 'mono', text: JSON.stringify(v)});
  return String(v);
}

function payloadView(p) {
  return dl(Object.entries(p || {}).map(([k, v]) => [k, payloadValue(k, v)]));
}

async function txPage(hash) {
  const t = await api('/v1/txs/' + encodeURIComponent(hash));
  if (t.status !== 'committed') return page('Transaction (pending)', dl([['hash', el('span', {class: 'mono', text: t.hash})], ['status', t.status]]));
  page('Transaction',
    dl([['hash', el('span', {class: 'mono', text: t.hash})], ['kind', el('span', {id: 'tx-kind', text: t.tx.kind})],
      ['block', link('#/block/' + t.height, t.height)], ['index', t.index], ['sender', addr(t.tx.sender)],
      ['nonce', t.tx.nonce], ['fee', agr(t.tx.fee)], ['size', t.tx.size + ' bytes'],
      ['result', el('span', {class: t.result.code === 'ok' ? '' : 'bad', text: t.result.code + (t.result.message ? ': ' + t.result.message : '')})]]),
    el('h2', {text: 'Payload'}), payloadView(t.tx.payload));
}

async function accountPage(a) {
  const [acc, st, hist] = await Promise.all([api('/v1/accounts/' + encodeURIComponent(a)), api('/v1/stake/' + encodeURIComponent(a)),
    api('/v1/accounts/' + encodeURIComponent(a) + '/txs?limit=20')]);
  const histCols = [
    {name: 'tx', get: (t) => link('#/tx/' + t.hash, short(t.hash))},
    {name: 'block', get: (t) => link('#/block/' + t.height, t.height)},
    {name: 'kind', get: (t) => t.kind},
    {name: 'role', get: (t) => (t.sent ? 'sent' : 'named')},
    {name: 'result', get: (t) => el('span', {class: t.result === 'ok' ? '' : 'bad', text: t.result})},
  ];
  const more = el('button', {type: 'button', text: 'Older'});
  let next = hist.next;
  more.hidden = !next;
  more.onclick = async () => {
    const pg = await api('/v1/accounts/' + encodeURIComponent(a) + '/txs?limit=20&before=' + encodeURIComponent(next));
    const body = document.getElementById('history');
    for (const t of pg.txs) body.append(row(histCols, t));
    next = pg.next;
    more.hidden = !next;
  };
  page('Account',
    el('p', {class: 'mono', text: acc.address}),
    cards([['balance', agr(acc.balance), 'balance'], ['nonce', acc.nonce, 'nonce'], ['staked', agr(st.total), 'staked']]),
    el('h2', {text: 'Stake'}),
    table([{name: 'hotkey', get: (s) => link('#/hotkey/' + s.hotkey, short(s.hotkey))}, {name: 'amount', num: true, get: (s) => agr(s.amount)}], st.stakes),
    el('h2', {text: 'History'}), table(histCols, hist.txs, 'history'), more);
}

async function hotkeyPage(a) {
  const [h, bond] = await Promise.all([api('/v1/hotkeys/' + encodeURIComponent(a)),
    api('/v1/bonds/' + encodeURIComponent(a)).catch((e) => { if (e.status === 404) return null; throw e; })]);
  const provider = bond ? [el('h2', {text: 'As a provider'}), cards([['bonded', agr(bond.bonded), 'bonded'],
    ['unbonding', agr(bond.unbonding)], ['offers', String(bond.offers)], ['faults', String(bond.disputes.faults), 'faults'],
    ['cleared', String(bond.disputes.cleared)], ['disputes open', String(bond.disputes.open), 'disputes-open'],
    ['held for them', agr(bond.disputes.held)]])] : [];
  page('Hotkey',
    el('p', {class: 'mono', text: h.hotkey}),
    dl([['owner', addr(h.owner)], ['take', u16(h.take)], ['total stake', agr(h.total_stake)],
      ['registrations', el('span', {}, ...h.registrations.map((r) => link(`#/subnet/${r.netuid}`, `subnet ${r.netuid} uid ${r.uid} `, '')))],
      ['account', link('#/account/' + h.hotkey, 'its account and history', '')]]),
    el('h2', {text: 'Stakers'}),
    table([{name: 'coldkey', get: (s) => addr(s.coldkey)}, {name: 'amount', num: true, get: (s) => agr(s.amount)}], h.stakers),
    ...provider);
}

async function subnetsPage() {
  const d = await api('/v1/subnets');
  page('Subnets', table([
    {name: 'netuid', get: (s) => link('#/subnet/' + s.netuid, s.netuid)},
    {name: 'name', get: (s) => s.name},
    {name: 'neurons', num: true, get: (s) => s.neurons + ' / ' + s.max_uids},
    {name: 'tempo', num: true, get: (s) => s.tempo},
    {name: 'epoch', num: true, get: (s) => s.epoch},
    {name: 'emitted', num: true, get: (s) => agr(s.emitted)},
    {name: 'registration', num: true, get: (s) => agr(s.registration_cost)},
  ], d.subnets, 'subnets'));
}

async function subnetPage(n) {
  const [mg, ep] = await Promise.all([api(`/v1/subnets/${encodeURIComponent(n)}/metagraph`), api(`/v1/subnets/${encodeURIComponent(n)}/epochs?limit=50`)]);
  const epochs = ep.epochs.slice().reverse();
  const top = mg.uids.slice().sort((a, b) => Number(BigInt(b.emission) - BigInt(a.emission))).slice(0, 8);
  const series = (field, scale) => top.map((u) => ({name: 'uid ' + u.uid,
    points: epochs.map((e) => [e.epoch, (e.uids[u.uid] && e.uids[u.uid].hotkey === u.hotkey ? scale(e.uids[u.uid][field]) : 0)])}));
  const hp = Object.entries(mg.hyperparams || {});
  const kids = [
    cards([['neurons', mg.neurons + ' / ' + mg.max_uids, 'neurons'], ['epoch', mg.epoch, 'epoch'], ['next epoch at block', mg.next_epoch_block, 'next-epoch'],
      ['emitted', agr(mg.emitted), 'emitted'], ['registration', agr(mg.registration_cost), 'registration'],
      ['model', mg.model ? el('span', {class: 'mono'}, link('#/asset/' + mg.model.model_id, short(mg.model.model_id))) : '—', 'model']]),
    el('h2', {text: 'Metagraph'}),
    table([
      {name: 'uid', num: true, get: (u) => u.uid},
      {name: 'hotkey', get: (u) => link('#/hotkey/' + u.hotkey, short(u.hotkey))},
      {name: 'stake', num: true, get: (u) => agr(u.stake)},
      {name: 'incentive', num: true, get: (u) => u16(u.incentive)},
      {name: 'dividends', num: true, get: (u) => u16(u.dividends)},
      {name: 'trust', num: true, get: (u) => u16(u.validator_trust)},
      {name: 'consensus', num: true, get: (u) => u16(u.consensus)},
      {name: 'emission', num: true, get: (u) => agr(u.emission)},
      {name: 'validator', get: (u) => (u.validator_permit ? 'yes' : '')},
    ], mg.uids, 'metagraph'),
  ];
  if (epochs.length > 1 && top.length) {
    kids.push(el('h2', {text: 'Incentive over epochs'}), chart(series('incentive', (v) => v / 65535), 1));
    kids.push(el('h2', {text: 'Dividends over epochs'}), chart(series('dividends', (v) => v / 65535), 1));
    kids.push(el('h2', {text: 'Emission over epochs (AGR)'}), chart(series('emission', (v) => Number(BigInt(v)) / 1e9)));
  }
  if (mg.hyperparams && mg.hyperparams.train_round_blocks !== undefined)
    kids.push(el('p', {}, link(`#/training/${mg.netuid}`, 'Training rounds of this subnet', '')));
  kids.push(el('h2', {text: 'Hyperparameters'}), dl(hp.map(([k, v]) => [k, String(v)])));
  page(`Subnet ${mg.netuid}: ${mg.name}`, ...kids);
  onBlock = (b) => { if (b.height >= mg.next_epoch_block) route(); }; /* a new epoch: redraw */
}

async function trainingPage(n) {
  const t = await api(`/v1/subnets/${encodeURIComponent(n)}/training?rounds=30`);
  const shares = new Map();
  for (const r of t.rounds) for (const e of r.entries) shares.set(e.hotkey, (shares.get(e.hotkey) || 0n) + BigInt(e.shares));
  const losses = t.rounds.filter((r) => r.val_loss_micro !== null && r.val_loss_micro !== undefined)
    .map((r) => [r.round, Number(r.val_loss_micro) / 1e6]).sort((a, b) => a[0] - b[0]);
  const loss = (r) => (r.val_loss_micro === null || r.val_loss_micro === undefined ? '—' : (Number(r.val_loss_micro) / 1e6).toFixed(4));
  page(`Training subnet ${t.netuid}`,
    cards([['round', t.round, 'round'], ['lineage', t.lineage], ['finalized rounds', t.finalized],
      ['model', t.model_id ? link('#/asset/' + t.model_id, short(t.model_id)) : '—']]),
    el('h2', {text: 'Final rounds'}),
    table([
      {name: 'round', num: true, get: (r) => r.round},
      {name: 'block', num: true, get: (r) => r.block},
      {name: 'checkpoint', get: (r) => link('#/asset/' + r.model_id, short(r.model_id))},
      {name: 'trainers', num: true, get: (r) => r.entries.length},
      {name: 'validation loss', num: true, get: loss},
    ], t.rounds, 'rounds'),
    el('h2', {text: 'Validation loss of each checkpoint (nats, as its validators agreed)'}),
    losses.length ? el('div', {id: 'loss-chart'}, chart([{name: 'validation loss', points: losses}],
      Math.max(...losses.map((l) => l[1])) * 1.01, Math.min(...losses.map((l) => l[1])) * 0.99)) : el('p', {class: 'muted', text: 'No final round yet.'}),
    el('h2', {text: 'Shares per trainer (last rounds)'}),
    table([{name: 'hotkey', get: (s) => link('#/hotkey/' + s[0], short(s[0]))}, {name: 'shares', num: true, get: (s) => s[1].toString()}],
      [...shares.entries()].sort((a, b) => (b[1] > a[1] ? 1 : -1)), 'shares'));
}

async function assetPage(id) {
  let a = null;
  try { a = await api('/v1/assets/' + encodeURIComponent(id)); } catch (e) { if (e.status !== 404) throw e; }
  const offers = await api('/v1/offers?model=' + encodeURIComponent(id)).catch(() => ({offers: []}));
  const kids = [el('p', {class: 'mono', text: id})];
  if (a) {
    const v = a.vault || {};
    kids.push(cards([['kind', a.kind || '—'], ['owner', addr(a.owner)], ['royalty', a.royalty_bps !== undefined ? a.royalty_bps / 100 + ' %' : '—'],
      ['vault balance', agr(v.balance), 'vault'], ['vault income', agr(v.income)], ['supply', a.supply !== undefined ? String(a.supply) : '—']]));
    kids.push(el('h2', {text: 'Shareholders'}), table([
      {name: 'holder', get: (h) => addr(h.holder || h.address)},
      {name: 'shares', num: true, get: (h) => String(h.shares)},
      {name: 'claimable', num: true, get: (h) => agr(h.claimable)},
    ], a.holders || [], 'holders'));
  } else {
    kids.push(el('p', {class: 'muted', text: 'Not registered as an asset.'}));
  }
  kids.push(el('h2', {text: 'Offers to serve it'}), table([
    {name: 'provider', get: (o) => link('#/hotkey/' + o.provider, short(o.provider))},
    {name: 'per 1k prompt', num: true, get: (o) => agr(o.price_in_per_1k)},
    {name: 'per 1k output', num: true, get: (o) => agr(o.price_out_per_1k)},
    {name: 'bond', num: true, get: (o) => agr(o.bond && o.bond.bonded)},
    {name: 'faults', num: true, get: (o) => (o.bond && o.bond.disputes ? o.bond.disputes.faults : 0)},
    {name: 'incentive', num: true, get: (o) => (o.serving || []).map((s) => `${u16(s.incentive)} (subnet ${s.netuid})`).join(', ') || '—'},
  ], offers.offers, 'offers'));
  page(a ? 'Model or dataset' : 'Model', ...kids);
}

async function channelPage(id) {
  const c = await api('/v1/channels/' + encodeURIComponent(id));
  page('Payment channel', dl(Object.entries(c).map(([k, v]) => [k, typeof v === 'string' && /^agora1/.test(v) ? addr(v) : String(v)])));
}

/* Redraws the page when what path answers changes (its height aside), read at each block. */
function redrawOnChange(path, shown) {
  const key = (o) => JSON.stringify(o, (k, v) => (k === 'height' ? undefined : v));
  const was = key(shown);
  onBlock = async function self() {
    const now = await api(path).catch(() => null);
    if (onBlock === self && now && key(now) !== was) route();
  };
}

/* The open disputes; a resolved one is found by its id (search, its dispute_open tx). */
/* The consensus validators: CometBFT's set with each key's share of the power, the keys bonded
 * by accounts (bond, unbonding, jail, this epoch's votes) and the rules; a solo chain's one
 * block producer. Redrawn when a block changes any of it. */
async function validatorsPage() {
  const [v, st] = await Promise.all([api('/v1/validators'), api('/v1/status')]);
  const kids = [cards([
    ['consensus', v.consensus, 'vconsensus'],
    ['validators', v.validators.length, 'vcount'],
    ['total power', v.total_power, 'vpower'],
    ['bonded keys', v.bonded.length, 'vbonded'],
  ])];
  if (v.consensus === 'solo') {
    kids.push(el('p', {}, 'One block producer makes and signs every block: ', addr(st.proposer),
      ' (named by the genesis; a light client checks headers against it).'));
  } else {
    const bonded = Object.fromEntries(v.bonded.map((b) => [b.consensus_key, b]));
    kids.push(el('h2', {text: 'The set'}), table([
      {name: 'consensus key', get: (x) => el('span', {class: 'mono', text: short(x.consensus_key)})},
      {name: 'address', get: (x) => el('span', {class: 'mono', text: short(x.address)})},
      {name: 'power', num: true, get: (x) => x.power},
      {name: 'share', num: true, get: (x) => (v.total_power ? (100 * x.power / v.total_power).toFixed(1) : '0') + ' %'},
      {name: 'bonded by', get: (x) => (bonded[x.consensus_key] ? addr(bonded[x.consensus_key].owner) : 'genesis or sudo')},
    ], v.validators, 'vset'));
    kids.push(el('h2', {text: 'Bonded by accounts'}), table([
      {name: 'consensus key', get: (b) => el('span', {class: 'mono', text: short(b.consensus_key)})},
      {name: 'owner', get: (b) => addr(b.owner)},
      {name: 'bond', num: true, get: (b) => agr(b.bond)},
      {name: 'unbonding', num: true, get: (b) => (b.unbonding === '0' ? '—' : agr(b.unbonding) + ' until ' + b.release_at)},
      {name: 'state', get: (b) => (b.tombstoned ? el('span', {class: 'bad', text: 'tombstoned'}) :
        b.jailed_until ? el('span', {class: 'bad', text: 'jailed until ' + b.jailed_until}) : 'active')},
      {name: 'votes missed', num: true, get: (b) => b.missed + ' of ' + b.seen},
    ], v.bonded, 'vbonds'));
    const p = v.bond_params;
    kids.push(el('h2', {text: 'Rules'}), dl([
      ['least bond', agr(p.min_bond)], ['power', '1 per whole AGR bonded, from the next validator epoch'],
      ['validator epoch', p.epoch_blocks + ' blocks'], ['unbonding', p.unbond_blocks + ' blocks and ' + (p.unbond_ms / 3600000).toFixed(1) + ' h'],
      ['jail', p.jail_blocks + ' blocks, ' + (p.jail_slash_bps / 100) + ' % of the bond, for missing over ' + (p.max_missed_permille / 10) + ' % of an epoch\'s votes'],
      ['double sign', (p.slash_bps / 100) + ' % of the bond, and out for good'],
      ['reward', (p.reward_bps / 100) + ' % of each block\'s reward to the bonded validators that signed the one before, by power'],
    ]));
  }
  page('Validators', ...kids);
  const key = (x) => JSON.stringify([x.validators, x.bonded.map((b) => [b.consensus_key, b.bond, b.unbonding, b.jailed_until, b.tombstoned])]);
  const was = key(v);
  onBlock = async function self() {
    const now = await api('/v1/validators').catch(() => null);
    if (onBlock === self && now && key(now) !== was) route();
  };
}

async function disputesPage() {
  const d = await api('/v1/disputes');
  page('Disputes', el('p', {class: 'muted', text: 'Paid answers challenged on chain and judged by a committee of validators ' +
      '(re-executing the request), open now. A resolved case is found by its id.'}),
    cards([['open', String(d.total), 'disputes-total']]),
    d.next !== null ? el('p', {class: 'muted', text: `The first ${d.disputes.length} in order of opening.`}) : null, table([
    {name: 'case', get: (x) => link('#/dispute/' + x.id, short(x.id))},
    {name: 'provider', get: (x) => link('#/hotkey/' + x.provider, short(x.provider))},
    {name: 'phase', get: (x) => x.phase},
    {name: 'round', num: true, get: (x) => String(x.round)},
    {name: 'committee', num: true, get: (x) => String(x.committee.length)},
    {name: 'reveal until', num: true, get: (x) => String(x.reveal_end)},
    {name: 'held', num: true, get: (x) => agr(x.held)},
  ], d.disputes, 'disputes'));
  redrawOnChange('/v1/disputes', d);
}

async function disputePage(id) {
  const d = await api('/v1/disputes/' + encodeURIComponent(id));
  const kids = [el('p', {class: 'mono', text: d.id}),
    cards([['status', d.status, 'dispute-status'], ['phase', d.phase], ['round', String(d.round + 1), 'dispute-round'],
      ['answer cost', agr(d.cost)], ['challenger bond', agr(d.bond)], ['provider bond held', agr(d.held)]]),
    dl([['provider', link('#/hotkey/' + d.provider, d.provider)], ['challenger', addr(d.challenger)], ['client', addr(d.client)],
      ['channel', link('#/channel/' + d.channel, d.channel)], ['model', link('#/asset/' + d.model, short(d.model))],
      ['opened', link('#/block/' + d.opened, d.opened)], ['this round', `from block ${d.round_start}: commit until ${d.commit_end}, reveal until ${d.reveal_end}`],
      ['provider\'s answer (hash)', el('span', {class: 'mono', text: d.claimed})]])];
  if (d.status !== 'open')
    kids.push(el('h2', {text: 'Outcome'}), cards([['verdict', d.verdict ? short(d.verdict) : 'none'], ['slashed', agr(d.slashed), 'dispute-slashed'],
      ['refund to the client', agr(d.refund)], ['challenger reward', agr(d.reward)], ['paid to the committee', agr(d.committee_paid)],
      ['burned', agr(d.burned)]]));
  kids.push(el('h2', {text: 'Committee'}), table([
    {name: 'member', get: (m) => link('#/hotkey/' + m.hotkey, short(m.hotkey))},
    {name: 'stake', num: true, get: (m) => agr(m.stake)},
    {name: 'vote', get: (m) => (m.revealed ? el('span', {class: 'mono', text: short(m.vote) + (m.vote === d.claimed ? ' (the provider\'s)' : '')})
      : m.committed ? 'committed' : 'waiting')},
    {name: 'paid', num: true, get: (m) => agr(m.paid)},
  ], d.committee, 'committee'));
  if (d.excluded.length)
    kids.push(el('h2', {text: 'Left out for silence in earlier rounds'}), table([
      {name: 'member', get: (m) => link('#/hotkey/' + m.hotkey, short(m.hotkey))},
      {name: 'stake', num: true, get: (m) => agr(m.stake)}], d.excluded, 'excluded'));
  page('Dispute', ...kids);
  if (d.status === 'open') redrawOnChange('/v1/disputes/' + encodeURIComponent(id), d); /* votes, phases, the outcome */
}

/* ---- routing, search, live blocks ---------------------------------------------------------- */

const routes = [
  [/^#?\/?$/, chainPage], [/^#\/block\/(\w+)$/, blockPage], [/^#\/tx\/([0-9a-f]{64})$/, txPage],
  [/^#\/account\/(agora1\w+)$/, accountPage], [/^#\/hotkey\/(agora1\w+)$/, hotkeyPage],
  [/^#\/subnets$/, subnetsPage], [/^#\/subnet\/(\d+)$/, subnetPage], [/^#\/training\/(\d+)$/, trainingPage],
  [/^#\/asset\/([0-9a-f]{64})$/, assetPage], [/^#\/channel\/([0-9a-f]{64})$/, channelPage],
  [/^#\/disputes$/, disputesPage], [/^#\/dispute\/([0-9a-f]{64})$/, disputePage], [/^#\/validators$/, validatorsPage],
];

async function route() {
  onBlock = null;
  const h = location.hash || '#/';
  for (const [re, fn] of routes) {
    const m = h.match(re);
    if (m) {
      try { await fn(...m.slice(1)); } catch (e) { failed(e); }
      main.dataset.readyMs = performance.now().toFixed(1); /* for tests and the benchmark */
      main.dataset.ready = h; /* for tests: the page has its data */
      return;
    }
  }
  failed({status: 404, message: 'no page ' + h});
  main.dataset.readyMs = performance.now().toFixed(1);
  main.dataset.ready = h;
}

document.getElementById('search').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const q = document.getElementById('q').value.trim();
  if (/^\d+$/.test(q)) location.hash = '#/block/' + q;
  else if (/^agora1\w+$/.test(q)) location.hash = '#/account/' + q;
  else if (/^[0-9a-fA-F]{64}$/.test(q)) {
    const id = q.toLowerCase();
    const tries = [['/v1/txs/', '#/tx/'], ['/v1/channels/', '#/channel/'], ['/v1/assets/', '#/asset/'], ['/v1/disputes/', '#/dispute/']];
    for (const [p, dest] of tries) {
      try { await api(p + id); location.hash = dest + id; return; } catch (e) { /* try the next */ }
    }
    failed({status: 404, message: 'no tx, channel, asset or dispute ' + id});
  } else failed({status: 404, message: 'search for a height, a 64-hex id or an agora1 address'});
});

function live() {
  const es = new EventSource('/v1/events/blocks');
  /* a page left behind gives its connection back at once (browsers allow 6 per host) */
  window.addEventListener('pagehide', () => es.close());
  es.addEventListener('block', (ev) => {
    const b = JSON.parse(ev.data);
    lastHeight = b.height;
    tip.textContent = b.height;
    if (onBlock) onBlock(b);
  });
}

window.addEventListener('hashchange', route);
api('/v1/status').then((s) => { if (!lastHeight) tip.textContent = s.height; }).catch(() => {});
route();
live();
