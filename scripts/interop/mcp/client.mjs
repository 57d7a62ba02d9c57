// An independent MCP client (the official TypeScript SDK) against a running
// femtoclaw gateway. Usage:
//   node client.mjs http URL TOKEN   streamable HTTP with a bearer token
//   node client.mjs stdio BIN DATADIR   through `femtoclaw mcp`
// Lists the tools, calls an allowed one and a denied one, and prints one
// JSON line per step; exits non-zero when a check fails.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const [mode, a, b] = process.argv.slice(2);
const fail = (msg) => { console.error("FAIL: " + msg); process.exit(1); };
const transport = mode === "http"
  ? new StreamableHTTPClientTransport(new URL(a), { requestInit: { headers: { Authorization: `Bearer ${b}` } } })
  : new StdioClientTransport({ command: a, args: ["mcp", "--data", b] });
const client = new Client({ name: "interop", version: "1.0.0" });
await client.connect(transport);
if (mode === "http") {
  // The gateway negotiates its newest version and issues a session.
  console.log(JSON.stringify({ step: "connect", protocolVersion: transport.protocolVersion, session: Boolean(transport.sessionId) }));
  if (transport.protocolVersion !== "2025-06-18" || !transport.sessionId) fail("no session or an unexpected protocol version");
}

const { tools } = await client.listTools();
const names = tools.map((t) => t.name).sort();
console.log(JSON.stringify({ step: "list", tools: names }));
if (names.join(",") !== "read_tank,set_inlet_pump") fail(`tools ${names}`);

const value = Number(process.env.PUMP_VALUE || "70");
const ok = await client.callTool({ name: "set_inlet_pump", arguments: { value } });
console.log(JSON.stringify({ step: "allowed", result: ok.content[0].text, isError: ok.isError ?? false }));
if (ok.isError) fail("allowed call refused");
const okBody = JSON.parse(ok.content[0].text);
if (!okBody.ok || okBody.value !== value) fail(`allowed call answered ${ok.content[0].text}`);

const read = await client.callTool({ name: "read_tank", arguments: {} });
const readBody = JSON.parse(read.content[0].text);
console.log(JSON.stringify({ step: "read", result: readBody }));
if (readBody.value["tank.inlet_pump"].value !== value) fail(`inlet pump reads ${JSON.stringify(readBody)}`);

const denied = await client.callTool({ name: "set_heater", arguments: { value: true } });
const deniedBody = JSON.parse(denied.content[0].text);
console.log(JSON.stringify({ step: "denied", result: deniedBody, isError: denied.isError }));
if (!denied.isError || deniedBody.ok !== false || deniedBody.code !== "denied" || deniedBody.reason !== "not_allowed") fail("denied call not refused with not_allowed");

await client.close();
console.log(JSON.stringify({ step: "done" }));
