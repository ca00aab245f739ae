/**
 * Abuse suite, documentation: every limit, error code, close code and HTTP status the server
 * uses is in protocol/PROTOCOL.md and the README, with the values the code has today.
 */
import assert from "node:assert/strict";
import {
  CLOSE_CODES,
  closeCodeFor,
  DEFAULT_INBOUND_LIMITS,
  ERROR_CODES,
  type ErrorCode,
  ROOM_LIST_LIMITS,
} from "../protocol/mod.ts";
import { HTTP_STATUS_BY_CODE, MAX_BODY_BYTES } from "../server/app.ts";
import { loadConfig, type ServerConfig } from "../server/mod.ts";

const protocol = Deno.readTextFileSync(new URL("../protocol/PROTOCOL.md", import.meta.url));
const readme = Deno.readTextFileSync(new URL("../README.md", import.meta.url));
const defaults = loadConfig({});

/** The text from the heading that starts with `start` to the next heading of its level. */
function section(markdown: string, start: string): string {
  const from = markdown.indexOf(`\n${start}`);
  assert.ok(from >= 0, `no section ${start}`);
  const level = start.split(" ")[0];
  const rest = markdown.slice(from + start.length + 1);
  const end = rest.search(new RegExp(`\\n${level} `));
  return end < 0 ? rest : rest.slice(0, end);
}

/** The cells of every table row whose first cell matches `first`. */
function rows(text: string, first: RegExp): string[][] {
  return text.split("\n")
    .filter((line) => line.startsWith("|") && !/^\|\s*-/.test(line))
    .map((line) => line.slice(1, -1).split("|").map((cell) => cell.trim()))
    .filter((cells) => first.test(cells[0]));
}

/** 10000 → "10 000", as the documents write big numbers. */
const spaced = (n: number) => String(n).replace(/\B(?=(\d{3})+$)/g, " ");

/** Every "`error code`, close N" and "`code` (N" in `text` agrees with `closeCodeFor`. */
function assertCloseCodesMatch(text: string, where: string): number {
  let checked = 0;
  for (const m of text.matchAll(/`(?:error )?([a-z][a-z0-9_]*)`(?:,\s*close\s+|\s*\()(\d{4})/g)) {
    assert.ok(m[1] in ERROR_CODES, `${where}: unknown code ${m[1]}`);
    assert.equal(Number(m[2]), closeCodeFor(m[1] as ErrorCode), `${where}: ${m[0]}`);
    checked++;
  }
  return checked;
}

Deno.test("docs: PROTOCOL.md section 8 lists every error code with the close code the server uses", () => {
  const table = rows(section(protocol, "## 8."), /^`[a-z_]+`$/);
  const documented = table.map(([code]) => code.slice(1, -1));
  assert.deepEqual([...documented].sort(), Object.keys(ERROR_CODES).sort());
  for (const [cell, sentAs, close] of table) {
    const code = cell.slice(1, -1) as ErrorCode;
    if (sentAs.startsWith("error")) {
      assert.equal(close, String(closeCodeFor(code)), code);
    } else if (sentAs === "reject") {
      assert.equal(close, "-", code);
    } else if (sentAs === "(close only)") {
      // The heartbeat close is Deno's own (1001); the slow-consumer close is ours.
      const expected = code === "slow_consumer" ? CLOSE_CODES.slow_consumer : 1001;
      assert.equal(close, String(expected), code);
    } else {
      assert.equal(sentAs, "(client side)", code);
    }
  }
  const paragraph = section(protocol, "## 8.").slice(
    section(protocol, "## 8.").indexOf("Close codes:"),
  );
  for (const [name, value] of Object.entries(CLOSE_CODES)) {
    assert.match(paragraph, new RegExp(`\\b${value}\\s`), `close code ${name} (${value})`);
  }
});

Deno.test("docs: PROTOCOL.md section 10 lists every HTTP status the server answers with", () => {
  const table = rows(section(protocol, "## 10."), /^`[a-z_]+`$/);
  const documented = Object.fromEntries(
    table.map(([code, status]) => [code.slice(1, -1), +status]),
  );
  assert.deepEqual(documented, { ...HTTP_STATUS_BY_CODE, internal: 500 });
});

const LIMITS: [string, (c: ServerConfig) => string][] = [
  ["frame size", (c) => `${c.maxFrameBytes / 1024} KiB (\`MAX_FRAME_BYTES\`)`],
  ["decoding work", () => {
    const l = DEFAULT_INBOUND_LIMITS;
    return `depth ${l.maxDepth}, ${l.maxItems} items, strings of ${l.maxStringBytes / 1024} KiB`;
  }],
  ["time to join after the upgrade", (c) => `${c.joinTimeoutMs / 1000} s (\`JOIN_TIMEOUT_MS\`)`],
  ["actions and pings", (c) => `${c.actionRate} per second, bursts of ${c.actionBurst}`],
  ["refusals in a row", (c) => `${c.abuseLimit} (\`ABUSE_LIMIT\`)`],
  ["silence", (c) => `${c.heartbeatSeconds} s (\`HEARTBEAT_S\`)`],
  ["unread bytes queued to a client", (c) => `${c.maxBufferedBytes / 2 ** 20} MiB`],
  ["a dropped player's seat", (c) => `held ${c.graceMs / 1000} s (\`GRACE_MS\`)`],
  ["spectators per room", (c) => `${c.maxSpectators} (\`MAX_SPECTATORS\`)`],
  [
    "rooms in one room list",
    () =>
      `${ROOM_LIST_LIMITS.default} per \`GET /api/rooms\` unless \`limit=\` asks for up to ${ROOM_LIST_LIMITS.max}`,
  ],
  ["rooms per process", (c) => `${spaced(c.maxRooms)} (\`MAX_ROOMS\`)`],
  ["sockets per client address", (c) => `${c.maxConnectionsPerIp} (\`MAX_CONNECTIONS_PER_IP\`)`],
];

Deno.test("docs: PROTOCOL.md section 10 has every limit with today's default and close code", () => {
  const text = section(protocol, "## 10.");
  for (const [limit, expected] of LIMITS) {
    const row = rows(text, new RegExp(`^${limit}$`));
    assert.equal(row.length, 1, `a row for ${limit}`);
    assert.ok(
      row[0][1].includes(expected(defaults)),
      `${limit}: "${row[0][1]}" has ${expected(defaults)}`,
    );
  }
  assert.ok(assertCloseCodesMatch(text, "PROTOCOL.md section 10") >= 8);
});

Deno.test("docs: the README's settings and limits tables have today's defaults and close codes", () => {
  const settings: Record<string, keyof ServerConfig> = {
    GRACE_MS: "graceMs",
    MAX_FRAME_BYTES: "maxFrameBytes",
    JOIN_TIMEOUT_MS: "joinTimeoutMs",
    HEARTBEAT_S: "heartbeatSeconds",
    ACTION_RATE: "actionRate",
    ACTION_BURST: "actionBurst",
    ABUSE_LIMIT: "abuseLimit",
    MAX_CONNECTIONS_PER_IP: "maxConnectionsPerIp",
    MAX_ROOMS: "maxRooms",
    MAX_BUFFERED_BYTES: "maxBufferedBytes",
    MAX_SPECTATORS: "maxSpectators",
  };
  const documented: Record<string, number> = {};
  for (const [names, values] of rows(section(readme, "## Configuration"), /^`[A-Z_]+`/)) {
    const keys = [...names.matchAll(/`([A-Z_]+)`/g)].map((m) => m[1]);
    const numbers = [...values.matchAll(/`([^`]+)`/g)].map((m) => Number(m[1]));
    keys.forEach((key, i) => documented[key] = numbers[i]);
  }
  for (const [variable, field] of Object.entries(settings)) {
    assert.equal(documented[variable], defaults[field], variable);
  }

  const limits = section(readme, "## Limits and security");
  const c = defaults;
  const l = DEFAULT_INBOUND_LIMITS;
  const expected: [string, string][] = [
    ["Inbound frame", `${c.maxFrameBytes / 1024} KiB`],
    [
      "Decoding",
      `depth ${l.maxDepth}, ${l.maxItems} items, ${l.maxStringBytes / 1024} KiB strings`,
    ],
    ["Join", `within ${c.joinTimeoutMs / 1000} s`],
    ["Actions and pings", `${c.actionRate}/s, bursts of ${c.actionBurst}`],
    ["Heartbeat", `${c.heartbeatSeconds} s of silence`],
    ["Unread output", `${c.maxBufferedBytes / 2 ** 20} MiB queued`],
    ["Connections", `${c.maxConnectionsPerIp} per address`],
    ["Rooms", `${spaced(c.maxRooms)} per process`],
    ["HTTP bodies", `${MAX_BODY_BYTES / 1024} KiB`],
  ];
  for (const [limit, value] of expected) {
    const row = rows(limits, new RegExp(`^${limit}$`));
    assert.equal(row.length, 1, `a row for ${limit}`);
    assert.ok(row[0][1].includes(value), `${limit}: "${row[0][1]}" has ${value}`);
  }
  const actions = rows(limits, /^Actions and pings$/)[0][2];
  assert.ok(actions.includes(`${c.abuseLimit} in a row`), actions);
  assert.ok(assertCloseCodesMatch(limits, "README limits") >= 6);
});
