/* capture-daemon dashboard: plain script, Chart.js only (served by the daemon, no CDN). */
'use strict';

(function () {
  const Chart = window.Chart;
  const COLORS = { ok: '#2a9d8f', failed: '#e76f51', seeders: '#2a9d8f', leechers: '#e9c46a', in: '#264653', out: '#2a9d8f', refused: '#e76f51', bar: '#457b9d' };
  const nf = new Intl.NumberFormat('en');
  const regionNames = typeof Intl.DisplayNames === 'function' ? new Intl.DisplayNames(['en'], { type: 'region' }) : null;
  const RANGE_WORDS = { '1h': 'last hour', '24h': 'last 24 hours', '7d': 'last 7 days' };

  let range = '24h';
  let summary = null;
  /** minute -> [ok, failed] already counted in the captures chart (from the summary, then live events). */
  let known = new Map();
  const charts = {};
  const dhtHistory = [];

  const $ = (id) => document.getElementById(id);
  const fmt = (n) => nf.format(n);
  const country = (code) => {
    if (code === 'unknown' || code === 'other') return code;
    try {
      return regionNames ? `${regionNames.of(code)} (${code})` : code;
    } catch {
      return code;
    }
  };
  const timeLabel = (ms, bucketMs) => {
    const d = new Date(ms);
    const hm = d.toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' });
    return bucketMs >= 3_600_000 ? `${d.toLocaleDateString('en-GB', { weekday: 'short', day: 'numeric' })} ${hm}` : hm;
  };

  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.color = '#5c6b77';
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;

  function makeCharts() {
    charts.captures = new Chart($('chart-captures'), {
      type: 'bar',
      data: { labels: [], datasets: [
        { label: 'succeeded', data: [], backgroundColor: COLORS.ok, stack: 'c' },
        { label: 'failed', data: [], backgroundColor: COLORS.failed, stack: 'c' },
      ] },
      options: {
        scales: { x: { stacked: true, ticks: { maxTicksLimit: 12, autoSkip: true }, grid: { display: false } }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
        plugins: { legend: { position: 'top', align: 'end' }, tooltip: { mode: 'index', intersect: false } },
      },
    });
    const hbar = (id, label, color) => new Chart($(id), {
      type: 'bar',
      data: { labels: [], datasets: [{ label, data: [], backgroundColor: color }] },
      options: { indexAxis: 'y', scales: { x: { beginAtZero: true, ticks: { precision: 0 } }, y: { grid: { display: false } } }, plugins: { legend: { display: false } } },
    });
    charts.countries = hbar('chart-countries', 'captures', COLORS.bar);
    charts.clients = hbar('chart-clients', 'successful captures', COLORS.in);
    charts.torrents = new Chart($('chart-torrents'), {
      type: 'bar',
      data: { labels: [], datasets: [
        { label: 'seeders', data: [], backgroundColor: COLORS.seeders, stack: 't' },
        { label: 'leechers', data: [], backgroundColor: COLORS.leechers, stack: 't' },
        { label: 'failed', data: [], backgroundColor: COLORS.failed, stack: 't' },
      ] },
      options: {
        indexAxis: 'y',
        scales: { x: { stacked: true, beginAtZero: true, ticks: { precision: 0 } }, y: { stacked: true, grid: { display: false } } },
        plugins: { legend: { position: 'top', align: 'end' }, tooltip: { mode: 'index', intersect: false } },
      },
    });
    charts.dht = new Chart($('chart-dht'), {
      type: 'line',
      data: { labels: [], datasets: [
        { label: 'in', data: [], borderColor: COLORS.in, backgroundColor: COLORS.in, pointRadius: 0, tension: 0.2 },
        { label: 'out', data: [], borderColor: COLORS.out, backgroundColor: COLORS.out, pointRadius: 0, tension: 0.2 },
        { label: 'refused', data: [], borderColor: COLORS.refused, backgroundColor: COLORS.refused, pointRadius: 0, tension: 0.2 },
      ] },
      options: { scales: { x: { ticks: { maxTicksLimit: 6 }, grid: { display: false } }, y: { beginAtZero: true } }, plugins: { legend: { position: 'top', align: 'end' } } },
    });
    charts.queues = new Chart($('chart-queues'), {
      type: 'bar',
      data: {
        labels: ['capture queue', 'captures running', 'store batch', 'DHT lookups queued', 'outbox AMQP', 'outbox email'],
        datasets: [{ label: 'items', data: [], backgroundColor: [COLORS.bar, COLORS.ok, COLORS.in, '#8ab17d', COLORS.leechers, '#f4a261'] }],
      },
      options: { indexAxis: 'y', scales: { x: { beginAtZero: true, ticks: { precision: 0 } }, y: { grid: { display: false } } }, plugins: { legend: { display: false } } },
    });
  }

  function setEmpty(id, empty) {
    $(id).hidden = !empty;
  }

  function renderSeries() {
    const s = summary.series;
    const c = charts.captures;
    c.data.labels = s.t.map((t) => timeLabel(t, summary.bucketMs));
    c.data.datasets[0].data = s.ok.slice();
    c.data.datasets[1].data = s.failed.slice();
    c.update();
    const minutes = summary.bucketMs / 60_000;
    $('captures-explain').textContent = `Peers the daemon connected to, per ${minutes >= 60 ? `${minutes / 60} hours` : `${minutes} minute${minutes > 1 ? 's' : ''}`}, ${RANGE_WORDS[summary.range]}: green succeeded, orange failed.`;
    renderTotals();
  }

  function renderTotals() {
    const s = summary.series;
    const ok = s.ok.reduce((a, b) => a + b, 0);
    const failed = s.failed.reduce((a, b) => a + b, 0);
    $('t-ok').textContent = fmt(ok);
    $('t-ok-sub').textContent = `succeeded, ${RANGE_WORDS[summary.range]}`;
    $('t-failed').textContent = fmt(failed);
    const share = ok + failed > 0 ? Math.round((failed / (ok + failed)) * 100) : 0;
    $('t-failed-sub').textContent = `${share}% of attempts, ${RANGE_WORDS[summary.range]}`;
  }

  function renderBreakdowns() {
    const since = new Date(summary.breakdownFrom).toLocaleString('en-GB', { weekday: 'short', hour: '2-digit', minute: '2-digit' });
    const cc = charts.countries;
    cc.data.labels = summary.countries.map((r) => country(r.code));
    cc.data.datasets[0].data = summary.countries.map((r) => r.captures);
    cc.update();
    setEmpty('countries-empty', summary.countries.length === 0);
    $('countries-explain').textContent = `Where the captured peers are (GeoIP), since ${since}.`;
    const cl = charts.clients;
    cl.data.labels = summary.clients.map((r) => r.name);
    cl.data.datasets[0].data = summary.clients.map((r) => r.captures);
    cl.update();
    setEmpty('clients-empty', summary.clients.length === 0);
    $('clients-explain').textContent = `Which BitTorrent clients the peers run (from their handshake), since ${since}.`;
    const ct = charts.torrents;
    ct.data.labels = summary.torrents.map((t) => t.name ? `${t.name.length > 48 ? `${t.name.slice(0, 47)}…` : t.name} (${t.infohash.slice(0, 8)})` : `${t.infohash.slice(0, 12)}… (name not known yet)`);
    ct.data.datasets[0].data = summary.torrents.map((t) => t.seeders);
    ct.data.datasets[1].data = summary.torrents.map((t) => t.leechers);
    ct.data.datasets[2].data = summary.torrents.map((t) => t.failed);
    ct.update();
    setEmpty('torrents-empty', summary.torrents.length === 0);
    $('torrents-explain').textContent = summary.watchedTorrents === 0
      ? 'Your filters list no infohashes (they watch all torrents): per-torrent counts are kept only for listed torrents.'
      : `Captures of the ${fmt(summary.watchedTorrents)} torrent${summary.watchedTorrents === 1 ? '' : 's'} your filters list, since ${since}: a seeder has every piece, a leecher is still downloading.`;
  }

  /** Adds a live event's per-minute counts to the captures chart (only what the chart does not have yet). */
  function applyMinutes(rows) {
    if (!summary) return;
    const s = summary.series;
    const bucketMin = summary.bucketMs / 60_000;
    let changed = false;
    for (const [minute, ok, failed] of rows) {
      const before = known.get(minute) || [0, 0];
      const dOk = ok - before[0];
      const dFailed = failed - before[1];
      if (dOk === 0 && dFailed === 0) continue;
      known.set(minute, [ok, failed]);
      const first = s.t[0] / 60_000;
      if (minute < first) continue;
      let i = Math.floor((minute - first) / bucketMin);
      while (i >= s.t.length) {
        s.t.push(s.t[s.t.length - 1] + summary.bucketMs);
        s.ok.push(0);
        s.failed.push(0);
        s.t.shift();
        s.ok.shift();
        s.failed.shift();
        i--;
      }
      s.ok[i] += dOk;
      s.failed[i] += dFailed;
      changed = true;
    }
    for (const m of known.keys()) if (m < rows.reduce((a, r) => Math.min(a, r[0]), Infinity) - 5) known.delete(m);
    if (changed) renderSeries();
  }

  function renderLive(live) {
    const d = live.dht;
    $('t-nodes').textContent = d.enabled ? fmt(d.nodes) : 'off';
    $('t-nodes-sub').textContent = !d.enabled
      ? 'DHT disabled in the config'
      : d.nodes === 0
        ? 'none yet: check dht.bootstrap and the firewall'
        : d.badNodes > 0 ? `in the routing table; ${fmt(d.badNodes)} gone bad` : 'in the routing table';
    $('t-nodes').parentElement.classList.toggle('warn', d.enabled && d.nodes === 0);
    $('t-packets').textContent = `${fmt(d.packetsInPerSecond)} / ${fmt(d.packetsOutPerSecond)}`;
    $('t-refusals').textContent = fmt(d.refusalsPerSecond);
    $('t-refusals').parentElement.classList.toggle('warn', d.refusalsPerSecond > 0);
    $('t-queue').textContent = fmt(live.queues.capture);
    $('t-queue-sub').textContent = `peers queued; ${fmt(live.queues.capturesRunning)} captures running`;
    $('t-store').textContent = fmt(live.queues.store);
    $('t-store-sub').textContent = live.captures.storeFailing ? 'database writes are failing!' : `captures in the write batch; ${fmt(live.captures.stored)} stored since start`;
    $('t-store').parentElement.classList.toggle('warn', live.captures.storeFailing);
    const backlog = live.outbox.amqp.backlog + live.outbox.email.backlog;
    const parked = live.outbox.amqp.parked + live.outbox.email.parked;
    $('t-outbox').textContent = fmt(backlog);
    $('t-outbox-sub').textContent = parked > 0 ? `not yet delivered; ${fmt(parked)} set aside` : 'notifications not yet delivered';
    const q = charts.queues;
    q.data.datasets[0].data = [live.queues.capture, live.queues.capturesRunning, live.queues.store, live.queues.lookups, live.outbox.amqp.backlog, live.outbox.email.backlog];
    q.update();
    const waiting = q.data.datasets[0].data.reduce((a, b) => a + b, 0);
    $('queues-explain').textContent = waiting === 0
      ? 'Work waiting in each stage right now: all empty, every stage keeps up.'
      : 'Work waiting in each stage right now. Queues that only grow mean a stage cannot keep up.';
    if (dhtHistory.length === 0 || dhtHistory[dhtHistory.length - 1].at < live.at) {
      dhtHistory.push(live);
      if (dhtHistory.length > 120) dhtHistory.shift();
    }
    const c = charts.dht;
    c.data.labels = dhtHistory.map((x) => new Date(x.at).toLocaleTimeString('en-GB'));
    c.data.datasets[0].data = dhtHistory.map((x) => x.dht.packetsInPerSecond);
    c.data.datasets[1].data = dhtHistory.map((x) => x.dht.packetsOutPerSecond);
    c.data.datasets[2].data = dhtHistory.map((x) => x.dht.refusalsPerSecond);
    c.update();
    $('updated').textContent = `Updated ${new Date(live.at).toLocaleTimeString('en-GB')}`;
  }

  async function loadSummary() {
    const res = await fetch(`/dashboard/api/summary?range=${encodeURIComponent(range)}`, { credentials: 'same-origin', cache: 'no-store' });
    if (res.status === 401 || res.status === 403) {
      window.location.assign('/dashboard/login');
      return;
    }
    if (!res.ok) throw new Error(`summary: HTTP ${res.status}`);
    summary = await res.json();
    known = new Map(summary.recentMinutes.map(([m, ok, failed]) => [m, [ok, failed]]));
    renderSeries();
    renderBreakdowns();
    if (dhtHistory.length === 0) for (const h of summary.history) dhtHistory.push(h);
    renderLive(summary.live);
    document.body.dataset.loaded = String(summary.generatedAt);
  }

  function connect() {
    const conn = $('conn');
    const es = new EventSource('/dashboard/api/events');
    es.addEventListener('open', () => {
      conn.textContent = 'live';
      conn.className = 'pill pill-live';
    });
    es.addEventListener('live', (ev) => {
      const live = JSON.parse(ev.data);
      applyMinutes(live.recentMinutes);
      renderLive(live);
      document.body.dataset.liveAt = String(live.at);
    });
    es.addEventListener('error', () => {
      conn.textContent = es.readyState === EventSource.CLOSED ? 'disconnected (reload the page)' : 'reconnecting…';
      conn.className = 'pill pill-down';
    });
  }

  for (const b of document.querySelectorAll('.range button')) {
    b.addEventListener('click', () => {
      range = b.dataset.range;
      for (const o of document.querySelectorAll('.range button')) o.classList.toggle('active', o === b);
      loadSummary().catch((err) => console.warn(err));
    });
  }

  makeCharts();
  loadSummary().then(connect, (err) => console.warn(err));
  // Breakdowns (countries, clients, torrents) are re-read every minute; the rest arrives live.
  setInterval(() => loadSummary().catch((err) => console.warn(err)), 60_000);
})();
