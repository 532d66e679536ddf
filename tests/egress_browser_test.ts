/**
 * The status page in a real browser: Debian's headless Chromium opens `/`, the page loads
 * hls.js from the engine itself and plays the channel's HLS; the test reads the `<video>`'s
 * `currentTime` over the DevTools protocol and requires it to advance.
 */

import { assert, assertEquals } from "./assert.ts";
import { channelToml, httpToml, poll, startEngine } from "./viewer_fixtures.ts";

const CHROMIUM = "chromium";

/** A headless Chromium on `url`, driven over the DevTools protocol. */
class Browser {
  #child: Deno.ChildProcess;
  #ws: WebSocket;
  #next = 1;
  #pending = new Map<number, (msg: Record<string, unknown>) => void>();
  /** Console messages and exceptions of the page. */
  readonly console: string[] = [];
  /** URLs the page requested. */
  readonly requests: string[] = [];

  private constructor(child: Deno.ChildProcess, ws: WebSocket) {
    this.#child = child;
    this.#ws = ws;
    ws.onmessage = (e) => {
      const msg = JSON.parse(e.data);
      if (typeof msg.id === "number") {
        this.#pending.get(msg.id)?.(msg);
        this.#pending.delete(msg.id);
      } else if (msg.method === "Runtime.consoleAPICalled") {
        const args = msg.params.args.map((a: { value?: unknown; description?: string }) =>
          a.value ?? a.description
        );
        this.console.push(`${msg.params.type}: ${args.join(" ")}`);
      } else if (msg.method === "Runtime.exceptionThrown") {
        this.console.push(`exception: ${msg.params.exceptionDetails.text}`);
      } else if (msg.method === "Network.requestWillBeSent") {
        this.requests.push(msg.params.request.url);
      }
    };
  }

  static async open(url: string, profile: string): Promise<Browser> {
    const args = [
      "--headless",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--mute-audio",
      "--autoplay-policy=no-user-gesture-required",
      `--user-data-dir=${profile}`,
      "--remote-debugging-port=0",
      "about:blank",
    ];
    if (Deno.uid() === 0) args.unshift("--no-sandbox");
    const child = new Deno.Command(CHROMIUM, { args, stderr: "piped", stdout: "null" }).spawn();
    // "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/<id>" on stderr.
    const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    let port: number | undefined;
    while (port === undefined) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`chromium exited before DevTools listened: ${text}`);
      text += value;
      const m = /DevTools listening on ws:\/\/[^:]+:(\d+)\//.exec(text);
      if (m) port = Number(m[1]);
    }
    // Keep draining stderr so that Chromium never blocks on a full pipe.
    (async () => {
      while (!(await reader.read()).done) { /* drain */ }
    })();
    const targets: { type: string; webSocketDebuggerUrl: string }[] = await (
      await fetch(`http://127.0.0.1:${port}/json/list`)
    ).json();
    const page = targets.find((t) => t.type === "page");
    assert(page !== undefined, `no page target: ${JSON.stringify(targets)}`);
    const ws = new WebSocket(page.webSocketDebuggerUrl);
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    });
    const browser = new Browser(child, ws);
    await browser.send("Runtime.enable");
    await browser.send("Network.enable");
    await browser.send("Page.enable");
    await browser.send("Page.navigate", { url });
    return browser;
  }

  send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const id = this.#next++;
    this.#ws.send(JSON.stringify({ id, method, params }));
    return new Promise((resolve) => this.#pending.set(id, resolve));
  }

  /** Evaluates `expression` in the page; its JSON-able value. */
  async eval<T>(expression: string): Promise<T> {
    const reply = await this.send("Runtime.evaluate", { expression, returnByValue: true });
    const result = reply.result as { result?: { value?: T }; exceptionDetails?: unknown };
    if (result?.exceptionDetails) throw new Error(JSON.stringify(result.exceptionDetails));
    return result.result?.value as T;
  }

  async close(): Promise<void> {
    this.#ws.close();
    try {
      this.#child.kill("SIGTERM");
    } catch {
      // already exited
    }
    await this.#child.status;
  }
}

interface VideoState {
  t: number;
  readyState: number;
  paused: boolean;
  error: number | null;
  hls: boolean;
  now: string;
  width: number;
}

Deno.test("browser: the status page's hls.js player really plays in headless Chromium", async () => {
  const dir = await Deno.makeTempDir({ prefix: "egress_browser_" });
  const engine = await startEngine(dir, [httpToml(), channelToml(1)].join("\n"));
  let browser: Browser | undefined;
  try {
    browser = await Browser.open(`${engine.base}/`, `${dir}/profile`);
    const b = browser;
    const state = () =>
      b.eval<VideoState>(`(() => {
        const v = document.getElementById("player");
        return { t: v.currentTime, readyState: v.readyState, paused: v.paused,
          error: v.error ? v.error.code : null, hls: typeof window.Hls === "function",
          now: (document.querySelector("td.now") || {}).textContent || "",
          width: v.videoWidth };
      })()`);
    const describe = async () =>
      `${JSON.stringify(await state())}\nconsole:\n${b.console.join("\n")}\nrequests:\n${
        b.requests.join("\n")
      }`;
    const playing = await poll(
      async () => {
        const s = await state().catch(() => undefined);
        if (s?.error) throw new Error(`video error ${s.error}: ${await describe()}`);
        return s && s.t > 0 ? s : undefined;
      },
      "the video to start",
      90_000,
    ).catch(async (e) => {
      throw new Error(`${(e as Error).message}: ${await describe()}`);
    });
    assert(playing.hls, "hls.js loaded from the engine");
    assertEquals(playing.width, 160, "the channel's picture");
    assertEquals(playing.now, "Channel 1", "on now, from the guide");
    // It keeps playing: currentTime advances past where it was.
    const later = await poll(
      async () => {
        const s = await state();
        return s.t > playing.t + 1 ? s : undefined;
      },
      "currentTime to advance",
      60_000,
    ).catch(async (e) => {
      throw new Error(`${(e as Error).message}: ${await describe()}`);
    });
    assert(later.t > playing.t, `${later.t} > ${playing.t}`);
    console.log(`currentTime ${playing.t.toFixed(3)} s → ${later.t.toFixed(3)} s`);
    assertEquals(later.error, null);
    // Everything came from the engine: hls.js, playlist and segments; no CDN.
    const network = b.requests.filter((u) => /^(https?|wss?):/.test(u)); // not blob: or data:
    const origins = new Set(network.map((u) => new URL(u).origin));
    assertEquals([...origins], [engine.base]);
    assert(b.requests.some((u) => u.endsWith("/assets/hls.min.js")), "hls.js from the engine");
    assert(b.requests.some((u) => /\/channel\/1\/[0-9a-z]+-\d+\.ts$/.test(u)), "segments");
  } finally {
    await browser?.close();
    await engine.handle.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
