// Smoke test of the ticketing.v1 API from Node, with @grpc/grpc-js and the
// .proto files loaded at run time by @grpc/proto-loader.
//
//   node tests/node/smoke.mjs <host:port> <integration access token>
//
// Prints one JSON object describing what it saw on stdout; exits non-zero
// (with the reason on stderr) on any failure. tests/test_node_client.py runs
// it against an in-process server and asserts on the JSON.
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";

import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";

const DEADLINE_MS = 5000;
const PROTO_DIR = fileURLToPath(new URL("../../proto", import.meta.url));

function fail(message) {
  process.stderr.write(`smoke.mjs: ${message}\n`);
  process.exit(1);
}

const [target, token] = process.argv.slice(2);
if (!target || !token) fail("usage: node smoke.mjs <host:port> <token>");

// google/protobuf/*.proto imports are not on disk: protobufjs serves them from
// its bundled copies (timestamp, struct, empty, field_mask, ...).
const definition = protoLoader.loadSync("ticketing/v1/ticketing.proto", {
  includeDirs: [PROTO_DIR],
  keepCase: true,
  enums: String,
  longs: String,
  defaults: true,
  oneofs: true,
});
const ticketing = grpc.loadPackageDefinition(definition).ticketing.v1;
const client = new ticketing.TicketingService(target, grpc.credentials.createInsecure());

function auth(bearer) {
  const md = new grpc.Metadata();
  if (bearer) md.set("authorization", `Bearer ${bearer}`);
  return md;
}

function deadline() {
  return new Date(Date.now() + DEADLINE_MS);
}

function unary(method, request, metadata) {
  return new Promise((resolve, reject) => {
    client[method](request, metadata, { deadline: deadline() }, (err, response) =>
      err ? reject(err) : resolve(response),
    );
  });
}

function serverStream(method, request, metadata) {
  return new Promise((resolve, reject) => {
    const items = [];
    const call = client[method](request, metadata, { deadline: deadline() });
    call.on("data", (item) => items.push(item));
    call.on("error", reject);
    call.on("end", () => resolve(items));
  });
}

const brief = (t) => ({ id: t.id, summary: t.summary, priority: t.priority, status: t.status });

async function main() {
  const md = auth(token);
  const nonce = randomUUID().slice(0, 8);
  const summary = `node-smoke-${nonce} printer on fire`;

  const created = await unary("CreateTicket", { ticket: { summary, priority: "HIGH" } }, md);
  // A ticket the filter must not return.
  const decoy = await unary("CreateTicket", { ticket: { summary: "unrelated", priority: "LOW" } }, md);
  const got = await unary("GetTicket", { ticket_id: created.id }, md);
  const streamed = await serverStream(
    "QueryTickets",
    { filter: [`summary[like]node-smoke-${nonce}`] },
    md,
  );

  let unauthenticated;
  try {
    await unary("GetTicket", { ticket_id: created.id }, new grpc.Metadata());
    unauthenticated = { code: grpc.status.OK, details: "call succeeded without a token" };
  } catch (err) {
    unauthenticated = { code: err.code, details: err.details };
  }

  const report = {
    summary,
    created: brief(created),
    decoy: brief(decoy),
    got: brief(got),
    streamed: streamed.map((item) => ({
      ...brief(item.ticket),
      has_resume_token: item.resume_token.length > 0,
    })),
    unauthenticated,
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

main()
  .then(() => {
    client.close();
  })
  .catch((err) => {
    client.close();
    fail(err && err.code !== undefined ? `gRPC ${err.code}: ${err.details}` : String(err && err.stack));
  });
