// An independent OPC UA server for the interop suite: node-opcua with
// Basic256Sha256, Aes128_Sha256_RsaOaep and Aes256_Sha256_RsaPss (Sign and
// SignAndEncrypt, no None endpoint), a strict certificate manager (only
// client certificates in PKI/trusted/certs are accepted), anonymous and
// user name login.
//
// Usage: node server.mjs PORT PKI_DIR USER PASSWORD
// Prints "ready" once it listens. Nodes (namespace 1):
//   ns=1;s=Tank.Level   Double   read
//   ns=1;s=Pump.Speed   Double   read/write
//   ns=1;s=Valve.Open   Boolean  read/write
import {
  OPCUAServer, OPCUACertificateManager, SecurityPolicy, MessageSecurityMode,
  DataType, Variant, StatusCodes,
} from "node-opcua";

const [port, pki, user, password] = process.argv.slice(2);

const serverCertificateManager = new OPCUACertificateManager({
  rootFolder: pki,
  automaticallyAcceptUnknownCertificate: false,
});
await serverCertificateManager.initialize();

const server = new OPCUAServer({
  port: Number(port),
  serverCertificateManager,
  securityPolicies: [
    SecurityPolicy.Basic256Sha256,
    SecurityPolicy.Aes128_Sha256_RsaOaep,
    SecurityPolicy.Aes256_Sha256_RsaPss,
  ],
  securityModes: [MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt],
  allowAnonymous: true,
  userManager: { isValidUser: (u, p) => u === user && p === password },
});
await server.initialize();

const addressSpace = server.engine.addressSpace;
const ns = addressSpace.getOwnNamespace();
const line = ns.addObject({ organizedBy: addressSpace.rootFolder.objects, browseName: "Line" });
const state = { level: 42.5, speed: 10, open: false };

ns.addVariable({
  componentOf: line, nodeId: "s=Tank.Level", browseName: "Level", dataType: "Double",
  accessLevel: "CurrentRead", userAccessLevel: "CurrentRead",
  value: { get: () => new Variant({ dataType: DataType.Double, value: state.level }) },
});
ns.addVariable({
  componentOf: line, nodeId: "s=Pump.Speed", browseName: "Speed", dataType: "Double",
  accessLevel: "CurrentRead | CurrentWrite", userAccessLevel: "CurrentRead | CurrentWrite",
  value: {
    get: () => new Variant({ dataType: DataType.Double, value: state.speed }),
    set: (v) => { state.speed = v.value; return StatusCodes.Good; },
  },
});
ns.addVariable({
  componentOf: line, nodeId: "s=Valve.Open", browseName: "Open", dataType: "Boolean",
  accessLevel: "CurrentRead | CurrentWrite", userAccessLevel: "CurrentRead | CurrentWrite",
  value: {
    get: () => new Variant({ dataType: DataType.Boolean, value: state.open }),
    set: (v) => { state.open = v.value; return StatusCodes.Good; },
  },
});

await server.start();
console.log("ready");
const stop = async () => { await server.shutdown(0); process.exit(0); };
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
