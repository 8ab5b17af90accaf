// "The latest request wins": a view that asks the engine again before the previous answer
// arrived (a new tensor picked, a key typed) must draw only the newest answer.
//
//   const latest = latestOnly();
//   const view = await latest(engine.tensorView(name));   // a newer latest() makes this STALE
//   if (view === STALE) return;
//
// A view that awaits several things for one request takes a ticket first, so that all of them
// belong to the same request (a newer start() or latest() makes every older ticket stale):
//
//   const run = latest.start();
//   const a = await run(engine.tokenize(text)); if (a === STALE) return;
//   const b = await run(engine.chatPrompt(...)); if (b === STALE) return;
//   ... run.current is false once a newer request started (for callbacks).
//
// A stale request's rejection is swallowed (it resolves STALE); the current one's is rethrown.

export const STALE = Symbol('stale');

export function latestOnly() {
  let newest = 0;
  const start = () => {
    const mine = ++newest;
    const ticket = (work) => Promise.resolve(work).then(
      (v) => (mine === newest ? v : STALE),
      (e) => { if (mine === newest) throw e; return STALE; },
    );
    Object.defineProperty(ticket, 'current', { get: () => mine === newest });
    return ticket;
  };
  const latest = (work) => start()(work);
  latest.start = start;
  /** Makes every request so far stale (nothing newer started). */
  latest.cancel = () => { newest++; };
  return latest;
}
