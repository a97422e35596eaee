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
 * element matching `selector` first appeared in the document; `window.__allSeen` resolves
 * with the marks once every selector has matched. */
export function firstSeen(selectors) {
  const marks = (window.__marks = {});
  const pending = new Set(Object.keys(selectors));
  let seen;
  window.__allSeen = new Promise((resolve) => (seen = resolve));
  new MutationObserver((_, obs) => {
    for (const name of pending) {
      if (document.querySelector(selectors[name])) {
        marks[name] = performance.now();
        pending.delete(name);
      }
    }
    if (pending.size === 0) {
      obs.disconnect();
      seen(marks);
    }
  }).observe(document, { childList: true, subtree: true });
}

/** Opens `url` and resolves with the page's `firstSeen` marks once all have matched (at most
 * `ms` later). It waits inside the page: Playwright's locators would inject their script
 * (~25 ms of the page's main thread) in the middle of the load being timed. */
export async function openAndWait(page, url, ms = 30_000) {
  const deadline = Date.now() + ms;
  await page.goto(url, { waitUntil: "commit" });
  for (;;) {
    // Null until the new document's init script has run, and after a second of waiting (so
    // the deadline is checked); a navigation in between throws.
    const marks = await page
      .evaluate(() => window.__allSeen && Promise.race([window.__allSeen, new Promise((r) => setTimeout(r, 1000, null))]))
      .catch(() => null);
    if (marks) return marks;
    if (Date.now() > deadline) throw new Error(`${url}: not everything was seen within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
