// Drives netharness's fault_proxy.lua with Toxiproxy's own Node client and
// prints what it saw as one JSON line: spec/fault_api_spec.lua checks it.
// usage: node toxiproxy_client.js API_URL UPSTREAM_HOST:PORT
"use strict";
const net = require("net");
const { Toxiproxy } = require("toxiproxy-node-client");

const [api, upstream] = process.argv.slice(2);

function roundTrip(port) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, "127.0.0.1", () => {
      const t0 = process.hrtime.bigint();
      sock.write("ping");
      sock.once("data", (d) => {
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        sock.destroy();
        resolve({ ms, echo: d.toString() });
      });
    });
    sock.on("error", reject);
    sock.setTimeout(5000, () => reject(new Error("timeout")));
  });
}

async function main() {
  const out = {};
  const toxiproxy = new Toxiproxy(api);
  out.version = await toxiproxy.getVersion();
  const proxy = await toxiproxy.createProxy({ name: "echo", listen: "127.0.0.1:0", upstream });
  const port = Number(proxy.listen.split(":").pop());
  out.listen = proxy.listen;
  out.before = await roundTrip(port);
  const toxic = await proxy.addToxic({ type: "latency", name: "slow", attributes: { latency: 100 } });
  out.toxic = { name: toxic.name, type: toxic.type, stream: toxic.stream, attributes: toxic.attributes };
  out.slow = await roundTrip(port);
  const all = await toxiproxy.getAll();
  out.listed = Object.keys(all);
  // The client has no call that lists toxics: its own HTTP client does it.
  out.listed_toxics = (await toxiproxy.api.get(`${api}/proxies/echo/toxics`)).data.map((t) => t.name);
  const again = await proxy.getToxic("slow");
  out.got_toxic = again.name;
  await again.remove();
  out.after = await roundTrip(port);
  await proxy.addToxic({ type: "latency", attributes: { latency: 100 } });
  await toxiproxy.reset();
  out.after_reset_toxics = (await toxiproxy.api.get(`${api}/proxies/echo/toxics`)).data.length;
  out.after_reset = await roundTrip(port);
  try {
    await proxy.addToxic({ type: "no_such_toxic" });
    out.bad_toxic = "accepted";
  } catch (e) {
    out.bad_toxic = String(e.message || e);
  }
  await proxy.remove();
  out.remaining = Object.keys(await toxiproxy.getAll());
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error("client failed:", e);
  process.exit(1);
});
