/**
 * Clustering across OS processes: three Arbiter processes share one Deno KV file behind
 * nginx, which routes WebSockets by room (`hash $arg_room consistent`; the client adds
 * `?room=<id>` once it knows its room). `kv.watch` does not fire across processes, so the
 * relay runs on polling here. A room runs in one process; killing that process (SIGKILL)
 * moves the room to another; the players resume through nginx and finish the game.
 *
 * Skipped when nginx is not installed (`.ci/setup_extras.sh` installs it on CI).
 */
import assert from "node:assert/strict";
import { connect } from "../client/mod.ts";
import { ClusterKeys, type LeaseRecord } from "../cluster/mod.ts";
import type { connectFour } from "../games/mod.ts";
import { type ServerProcess, spawnServer } from "./support/server_process.ts";
import { closedPort, waitFor } from "./support/test_server.ts";

const NGINX = ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"].find((path) => {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
});

/** The nginx configuration of the test: one upstream per process, consistent hash by room. */
function nginxConfig(dir: string, port: number, backends: readonly number[]): string {
  return `
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  map $http_upgrade $connection_upgrade { default upgrade; "" close; }
  upstream arbiter {
    hash $arg_room consistent;
${backends.map((p) => `    server 127.0.0.1:${p} max_fails=1 fail_timeout=60s;`).join("\n")}
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://arbiter;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_connect_timeout 2s;
      proxy_read_timeout 1h;
      proxy_next_upstream error timeout;
    }
  }
}
`;
}

async function startNginx(dir: string, backends: readonly number[]) {
  const port = closedPort();
  const conf = `${dir}/nginx.conf`;
  await Deno.writeTextFile(conf, nginxConfig(dir, port, backends));
  const child = new Deno.Command(NGINX!, {
    args: ["-p", dir, "-c", conf, "-e", `${dir}/nginx-error.log`, "-g", "daemon off;"],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/health`);
      await response.body?.cancel();
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      await child.status;
      throw new Error(`nginx did not start:\n${await Deno.readTextFile(`${dir}/nginx-error.log`)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    async stop() {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

/** The cluster instance id a server process logged at start. */
function instanceOf(server: ServerProcess): string | undefined {
  for (const line of server.lines) {
    const match = /"msg":"cluster instance started".*"instance":"([^"]+)"/.exec(line);
    if (match) return match[1];
  }
}

Deno.test({
  name: "cluster behind nginx: a room lives in one process; killing it moves the room",
  ignore: NGINX === undefined,
  // Child processes and their pipes outlive single test steps by design.
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "arbiter-nginx-" });
    const env = {
      ARBITER_CLUSTER: "kv",
      ARBITER_KV_PATH: `${dir}/arbiter.kv`,
      ARBITER_LEASE_MS: "2000",
      ARBITER_DURABILITY: "log",
      GRACE_MS: "60000",
      PORT: "0",
    };
    const servers: ServerProcess[] = [];
    for (let i = 0; i < 3; i++) servers.push(await spawnServer(env));
    const nginx = await startNginx(dir, servers.map((s) => s.port));
    const kv = await Deno.openKv(`${dir}/arbiter.kv`);
    const keys = new ClusterKeys();
    const lease = async (room: string) => (await kv.get<LeaseRecord>(keys.lease(room))).value;
    const options = { pingIntervalMs: 0, reconnect: { baseMs: 50, maxMs: 300 } } as const;
    type C4 = typeof connectFour;
    const ann = await connect(nginx.wsUrl, { ...options, name: "ann" })
      .create<C4>("connect_four", { turnMs: 600_000 });
    const bob = await connect(nginx.wsUrl, { ...options, name: "bob" }).join<C4>(ann.roomId);
    try {
      const columns = [0, 1, 0, 1, 0, 1, 0];
      const play = async (from: number, to: number) => {
        for (let i = from; i < to; i++) {
          await (i % 2 === 0 ? ann : bob).send("drop", { column: columns[i] });
        }
      };
      await play(0, 4);
      const holder = (await lease(ann.roomId))?.instance;
      const owner = servers.find((s) => instanceOf(s) === holder);
      assert.ok(owner, "one of the processes holds the room's lease");
      // The room runs in that process only (each dashboard lists its own rooms).
      const running = await Promise.all(servers.map(async (s) => {
        const stats = await (await fetch(`http://127.0.0.1:${s.port}/api/stats`)).json();
        return stats.rooms.some((room: { id: string }) => room.id === ann.roomId);
      }));
      assert.deepEqual(running, servers.map((s) => s === owner));

      const resumes = () =>
        ann.resumes.full + ann.resumes.replayed + bob.resumes.full + bob.resumes.replayed;
      owner.kill("SIGKILL");
      await owner.status;
      await waitFor(
        () => ann.status === "connected" && bob.status === "connected" && resumes() >= 2,
        "both players resumed through nginx",
        20_000,
      );
      const moved = await lease(ann.roomId);
      const next = servers.find((s) => instanceOf(s) === moved?.instance);
      assert.ok(next && next !== owner, "another process holds the room now");
      const discs = (room: typeof ann) => room.state.board.flat().filter((x) => x !== null).length;
      assert.equal(discs(ann), 4, "no acknowledged move was lost");
      assert.equal(discs(bob), 4);
      await play(4, 7);
      await waitFor(() => ann.outcome !== null && bob.outcome !== null, "game over", 10_000);
      assert.deepEqual(ann.outcome?.winners, ["p1"]);
      assert.deepEqual(bob.state, ann.state);
    } finally {
      ann.leave();
      bob.leave();
      kv.close();
      await nginx.stop();
      for (const server of servers) {
        try {
          server.kill("SIGTERM");
        } catch {
          // already gone
        }
      }
      await Promise.all(servers.map((s) => s.status));
      await Deno.remove(dir, { recursive: true });
    }
  },
});
