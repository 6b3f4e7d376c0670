// Compliance: one standard at a time (ETSI EN 303 645, NIST IR 8259A, EU
// CRA). The score and each provision's outcome come from the JSON report
// (GET /api/v1/report?standard=...&format=json, its scorecard), the
// findings from GET /api/v1/audit/findings: open ones with a Suppress
// action (operator: a reason and an expiry, POST
// /api/v1/audit/suppressions), suppressed ones apart with the
// suppressions that hide them, each of which an operator may lift (DELETE
// /api/v1/audit/suppressions/{id}, after a confirmation). Run an audit (operator, POST
// /api/v1/audit/run) and download the report: plain same-origin links,
// authenticated by the session cookie, never a token in the URL.
import * as api from '../api.js';
import {h, append, badge, table, when, errorBox, toast, confirmDialog} from '../dom.js';
import {field, select, formDialog, dateInput} from '../forms.js';

export const title = 'Compliance';
export const role = 'viewer';

const STANDARDS = [['etsi-en-303-645', 'ETSI EN 303 645'], ['nist-ir-8259a', 'NIST IR 8259A'], ['cra', 'EU Cyber Resilience Act']];
const FORMATS = [['html', 'HTML'], ['json', 'JSON'], ['csv', 'CSV'], ['sarif', 'SARIF']];
const SEV = {critical: 5, high: 4, medium: 3, low: 2, info: 1};

export async function render(main, ctx) {
  const cur = STANDARDS.some(([v]) => v === ctx.query.get('standard')) ? ctx.query.get('standard') : STANDARDS[0][0];
  const std = select('a-standard', STANDARDS, cur);
  const downloads = h('p', {class: 'downloads', id: 'report-links'});
  const runBtn = api.can('operator') ? h('button', {type: 'button', id: 'run-audit', onclick: run}, 'Run audit now') : null;
  const score = h('section', {class: 'panel', id: 'scorecard', 'aria-labelledby': 'scorecard-h', 'aria-busy': 'true'},
    h('h2', {id: 'scorecard-h'}, 'Score'), h('p', {class: 'loading'}, 'Loading…'));
  const findings = h('section', {class: 'panel', id: 'open-findings', 'aria-labelledby': 'open-findings-h'},
    h('h2', {id: 'open-findings-h'}, 'Open findings'), h('p', {class: 'loading'}, 'Loading…'));
  const suppressed = h('section', {class: 'panel', id: 'suppressed', 'aria-labelledby': 'suppressed-h'},
    h('h2', {id: 'suppressed-h'}, 'Suppressed'), h('p', {class: 'loading'}, 'Loading…'));
  main.replaceChildren(
    h('div', {class: 'page-head'}, h('h1', null, 'Compliance'), h('div', {class: 'actions'}, runBtn)),
    h('form', {class: 'filters', 'aria-label': 'Standard', onsubmit: (e) => e.preventDefault()}, field('a-standard', 'Standard', std), downloads),
    score, findings, suppressed);
  std.addEventListener('change', () => {
    history.replaceState(null, '', `/audit?standard=${encodeURIComponent(std.value)}`);
    load();
  });

  function links() {
    const s = encodeURIComponent(std.value);
    downloads.replaceChildren();
    append(downloads, ['Download the report: ', FORMATS.map(([f, label], i) => [i ? ' · ' : '',
      h('a', {href: `/api/v1/report?standard=${s}&format=${f}`, download: `ward-report-${std.value}.${f === 'sarif' ? 'sarif.json' : f}`,
        id: `report-${f}`, 'aria-label': `${label} report, ${std.selectedOptions[0].textContent}`}, label)])]);
  }

  async function load() {
    links();
    let report;
    let all;
    let sups;
    try {
      [report, all, sups] = await Promise.all([
        api.get(`/api/v1/report?standard=${encodeURIComponent(std.value)}&format=json`),
        api.get('/api/v1/audit/findings'),
        api.get('/api/v1/audit/suppressions'),
      ]);
    } catch (e) {
      if (e.status !== 401) score.replaceChildren(h('h2', {id: 'scorecard-h'}, 'Score'), errorBox(e));
      score.removeAttribute('aria-busy');
      return;
    }
    const sc = report.scorecard;
    const inStd = new Set((sc.provisions || []).map((p) => p.provision));
    const mine = (all || []).filter((f) => !(f.standards || []).length || f.standards.some((x) => inStd.has(x)))
      .sort((a, b) => (SEV[b.severity] || 0) - (SEV[a.severity] || 0) || a.check.localeCompare(b.check));
    for (const [el, content] of [[score, scorecard(sc, report)], [findings, openFindings(mine.filter((f) => !f.suppressed), inStd)],
      [suppressed, suppressedView(mine.filter((f) => f.suppressed), sups || [])]]) {
      el.replaceChildren();
      append(el, content);
    }
    score.removeAttribute('aria-busy');
  }

  function scorecard(sc, report) {
    const pct = sc.devices_passing_pct == null ? null : `${sc.devices_passing_pct.toFixed(1)} % of ${sc.fleet_devices} devices pass`;
    return [h('h2', {id: 'scorecard-h'}, `${sc.name}: score`),
      h('div', {class: 'scoreline'},
        h('div', {class: 'big', id: 'std-score'}, `${sc.score.toFixed(1)} %`, h('small', null, `${sc.passed} of ${sc.assessed} assessed provisions pass`)),
        h('ul', {class: 'rows inline'},
          h('li', null, badge('st', 'fail'), ` ${sc.failed} failing`),
          h('li', null, badge('st', 'not-assessed'), ` ${sc.not_assessed} not assessed`),
          pct ? h('li', null, pct) : null,
          h('li', {class: 'muted'}, `Report generated ${when(report.generated)}`))),
      provisions(sc)];
  }

  function provisions(sc) {
    const ps = sc.provisions || [];
    if (!ps.length) return h('p', {class: 'empty'}, 'No provision scored yet: run an audit.');
    const t = (caption, list) => table(caption, ['Provision', 'Requirement', 'Status', 'Failing checks', ['Devices failing', 'num']], list, (p) => [
      h('span', {class: 'mono'}, p.ref), p.text, badge('st', p.status),
      (p.by_check || []).length ? h('ul', {class: 'plain'}, p.by_check.map((c) => h('li', null, badge('sev', c.severity), ` ${c.title} (${c.findings})`)))
        : p.suppressed ? h('span', {class: 'muted'}, `${p.suppressed} suppressed`) : '—',
      {td: p.status === 'fail' ? String(p.devices_failing) : '—', class: 'num'}],
    {rowProps: (p) => ({dataset: {provision: p.ref}})});
    const failing = ps.filter((p) => p.status === 'fail');
    const rest = ps.filter((p) => p.status !== 'fail').sort((a, b) => order(a.status) - order(b.status));
    return [failing.length ? t(`${sc.name}: failing provisions`, failing) : h('p', {class: 'empty'}, 'No provision fails.'),
      rest.length ? h('details', {class: 'more'}, h('summary', null, `${sc.passed} passing and ${sc.not_assessed} not assessed provisions`), t(`${sc.name}: passing and not assessed provisions`, rest)) : null];
  }

  function openFindings(list, inStd) {
    const head = h('h2', {id: 'open-findings-h'}, `Open findings (${list.length})`);
    if (!list.length) return [head, h('p', {class: 'empty'}, 'No open finding for this standard.')];
    const cols = ['Severity', 'Finding', 'Resources', 'Provisions', 'Last seen'];
    if (api.can('operator')) cols.push('Action');
    return [head, table('Open findings, worst first', cols, list, (f) => {
      const row = [badge('sev', f.severity),
        h('div', null, h('strong', null, f.title), h('div', {class: 'muted mono'}, f.check), f.remediation ? h('div', {class: 'muted'}, f.remediation) : null),
        resources(f.resources || []),
        h('span', {class: 'mono small'}, (f.standards || []).filter((x) => inStd.has(x)).join(', ') || '—'),
        when(f.last_seen)];
      if (api.can('operator')) row.push(h('button', {type: 'button', class: 'secondary', dataset: {suppress: f.id || f.check},
        'aria-label': `Suppress ${f.title}`, onclick: () => suppress(f)}, 'Suppress…'));
      return row;
    }, {rowProps: (f) => ({dataset: {finding: f.id || f.check}})})];
  }

  function suppressedView(list, sups) {
    const head = h('h2', {id: 'suppressed-h'}, `Suppressed (${list.length} findings, ${sups.length} suppressions)`);
    return [head,
      list.length ? table('Suppressed findings: not counted against the score until the suppression expires', ['Severity', 'Finding', 'Resources'], list, (f) => [
        badge('sev', f.severity), h('div', null, h('strong', null, f.title), h('div', {class: 'muted mono'}, f.check)), resources(f.resources || [])],
      {rowProps: (f) => ({dataset: {suppressedFinding: f.id || f.check}})}) : h('p', {class: 'empty'}, 'No suppressed finding for this standard.'),
      sups.length ? table('Active suppressions', ['Check', 'Resource', 'Reason', 'By', 'Since', 'Expires', ...(api.can('operator') ? ['Action'] : [])], sups, (s) => [
        h('span', {class: 'mono'}, s.check), s.resource ? h('span', {class: 'mono'}, s.resource) : 'every resource', s.reason, s.created_by, when(s.created_at), when(s.expires_at),
        ...(api.can('operator') ? [h('button', {type: 'button', class: 'secondary', dataset: {lift: s.id}, 'aria-label': `Lift the suppression of ${s.check}`,
          onclick: () => lift(s)}, 'Lift…')] : [])],
      {rowProps: (s) => ({dataset: {suppression: s.id}})}) : null];
  }

  // lift deletes a suppression (operator, DELETE
  // /api/v1/audit/suppressions/{id}) after a confirmation: its findings
  // count against the score again from the next audit.
  async function lift(s) {
    const scope = s.resource ? `on ${s.resource}` : 'on every resource';
    if (!(await confirmDialog(`Lift the suppression of ${s.check}?`,
      `Its findings ${scope} count against the score again; the change is written to the audit trail.`, 'Lift'))) return;
    try {
      await api.request('DELETE', `/api/v1/audit/suppressions/${encodeURIComponent(s.id)}`);
      toast(`Suppression of ${s.check} lifted.`);
      await load();
    } catch (e) {
      if (e.status !== 401) toast(`Lift failed: ${e.message}`, true);
    }
  }

  async function suppress(f) {
    const res = f.resources || [];
    const resource = select('sup-resource', [...res.map((r) => [r, r]), ['', `Every resource (all of ${f.check})`]], res.length === 1 ? res[0] : '');
    const reason = h('textarea', {id: 'sup-reason', name: 'reason', rows: 3, required: true, maxlength: 1000});
    const expires = dateInput('sup-expires', 30);
    const done = await formDialog('suppress-dialog', `Suppress ${f.title}`, [
      h('p', {class: 'muted'}, 'The finding stays recorded but leaves the score until the expiry date; the suppression is written to the audit trail.'),
      field('sup-resource', 'Resource', resource),
      field('sup-reason', 'Reason', reason, 'Required: why this is accepted (e.g. compensating control, ticket).'),
      field('sup-expires', 'Expires on (UTC)', expires)], 'Suppress', async () => {
      if (!reason.value.trim()) throw new Error('Give a reason.');
      const at = new Date(`${expires.value}T23:59:59Z`);
      if (Number.isNaN(at.getTime()) || at <= new Date()) throw new Error('Choose an expiry date in the future.');
      return api.post('/api/v1/audit/suppressions', {check: f.check, resource: resource.value, reason: reason.value.trim(), expires_at: at.toISOString()});
    });
    if (done) {
      toast(`${f.check} suppressed until ${when(done.expires_at)}.`);
      await load();
    }
  }

  async function run() {
    runBtn.disabled = true;
    runBtn.textContent = 'Running…';
    try {
      const fs = await api.post('/api/v1/audit/run');
      toast(`Audit done: ${(fs || []).length} active finding${(fs || []).length === 1 ? '' : 's'}.`);
      await load();
    } catch (e) {
      if (e.status !== 401) toast(`Audit failed: ${e.message}`, true);
    } finally {
      runBtn.disabled = false;
      runBtn.textContent = 'Run audit now';
    }
  }

  await load();
  ctx.on('reset', load);
}

function resources(rs) {
  if (!rs.length) return '—';
  const shown = rs.slice(0, 5).map((r) => {
    const dev = r.startsWith('device:') ? r.slice(7) : null;
    return h('li', null, dev ? h('a', {href: `/devices/${encodeURIComponent(dev)}`, class: 'mono'}, r) : h('span', {class: 'mono'}, r));
  });
  return h('ul', {class: 'plain'}, shown, rs.length > 5 ? h('li', {class: 'muted'}, `and ${rs.length - 5} more`) : null);
}

function order(status) { return {fail: 0, pass: 1, 'not-assessed': 2}[status] ?? 3; }
