// RunPod's official JavaScript SDK (npm runpod-sdk), unchanged, against the notebook's endpoint.
// Usage: node client.mjs BASE_URL API_KEY RESULT_PATH — writes what each call returned, as JSON.
import { writeFileSync } from "node:fs";
import runpodSdk from "runpod-sdk";

const [baseUrl, apiKey, resultPath] = process.argv.slice(2);
const runpod = runpodSdk(apiKey, { baseUrl });
const echo = runpod.endpoint("echo");
const slow = runpod.endpoint("slow");
const tokens = runpod.endpoint("tokens");
const blocker = runpod.endpoint("blocker");
const results = {};

results.runSyncShort = await echo.runSync({ input: { x: 1 } });
// 1 s: /runsync?wait=1000 returns IN_PROGRESS, then runSync falls back to /status-sync
results.runSyncLong = await slow.runSync({ input: { n: 2 } }, 1000);

const run = await echo.run({ input: 5 });
results.run = run;
results.statusSync = await echo.statusSync(run.id, 5000);
results.status = await echo.status(run.id);

const streamed = await tokens.run({ input: 3 });
results.stream = [];
for await (const chunk of tokens.stream(streamed.id)) {
  results.stream.push(chunk);
}

const blocked = await blocker.run({ input: 0 });
// the worker takes it on its own thread: queue the others once it has (else a purge would remove it too)
for (let tries = 0; (await blocker.status(blocked.id)).status !== "IN_PROGRESS"; tries++) {
  if (tries === 1000) throw new Error(`job ${blocked.id} was not started within 10 s`);
  await new Promise((resolve) => setTimeout(resolve, 10));
}
await blocker.run({ input: 1 });  // these stay queued behind it
await blocker.run({ input: 2 });
results.purgeQueue = await blocker.purgeQueue();
// cancelled last: a call that ignores its cancel is abandoned after the stall threshold (250 ms) and a new
// worker takes the queue, so jobs queued after the cancel were purged or not depending on the machine's load
results.cancel = await blocker.cancel(blocked.id);
results.health = await echo.health();
try {
  results.missing = await echo.status("no-such-job");
} catch (error) {  // xior throws on a non-2xx answer
  results.missing = { thrown: error?.response?.status ?? String(error) };
}

writeFileSync(resultPath, JSON.stringify(results));
