// Helpers shared by the benchmark scripts: summary statistics and the figures' formatting, and
// the init script that marks when elements first appear.

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** The p-th percentile (nearest rank, rounded down). */
export const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

/** "median … ms, p90 … ms" (or other percentiles). */
export const fmt = (xs, unit, ps = [90]) =>
  [`median ${median(xs).toFixed(1)} ${unit}`, ...ps.map((p) => `p${p} ${pct(xs, p).toFixed(1)} ${unit}`)].join(", ");

/** An init script (`page.addInitScript(firstSeen, {name: selector, …})`): records in
 * `window.__marks[name]` the `performance.now()` (ms since navigation start) at which an
 * element matching `selector` first appeared in the document. */
export function firstSeen(selectors) {
  const marks = (window.__marks = {});
  const pending = new Set(Object.keys(selectors));
  new MutationObserver((_, obs) => {
    for (const name of pending) {
      if (document.querySelector(selectors[name])) {
        marks[name] = performance.now();
        pending.delete(name);
      }
    }
    if (pending.size === 0) obs.disconnect();
  }).observe(document, { childList: true, subtree: true });
}
