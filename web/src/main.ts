// The moql web page: connects to a relay with @moq/net (WebTransport, certificate pinned from
// the relay's /certificate.sha256; or QMux over WebSocket with `?webtransport=0`), lists announced broadcasts live, subscribes to a track and
// shows its frames, fetches one past group (moq-lite-05 FETCH, through @moq/net's
// `fetchGroup`), and publishes a broadcast of its own from a text box.
//
// Every element the browser test reads carries a `data-state` (or `data-count`) attribute, so
// the test waits on state rather than on wording.

import * as Moq from "@moq/net";
import { type Options, parseOptions } from "./options";

/** Frames kept on screen per list; older ones scroll away. */
const MAX_LINES = 10;
/** How long connecting, or fetching one group, may take before the page gives up. */
const TIMEOUT_MS = 10_000;

const options = parseOptions(location.search, location.origin);
const decoder = new TextDecoder();

function element<T extends HTMLElement>(id: string): T {
	const found = document.getElementById(id);
	if (!found) throw new Error(`missing #${id}`);
	return found as T;
}

function input(id: string): HTMLInputElement {
	return element<HTMLInputElement>(id);
}

function setState(id: string, state: string, text: string): void {
	const el = element(id);
	el.dataset.state = state;
	el.textContent = text;
}

/** Prepends `text` to a log list, keeping at most `MAX_LINES` lines. */
function log(id: string, text: string, max = MAX_LINES): void {
	const list = element(id);
	const line = document.createElement("li");
	line.textContent = text;
	list.prepend(line);
	while (list.children.length > max) list.lastElementChild?.remove();
}

function describe(err: unknown): string {
	return err instanceof Error ? err.message : String(err);
}

/** A frame's payload as text, or its size when it is not UTF-8 text. */
function show(payload: Uint8Array): string {
	const text = decoder.decode(payload);
	return text.includes("\uFFFD") ? `<${payload.byteLength} bytes>` : text;
}

let connection: Moq.Connection.Established | undefined;

async function connect(relay: URL, opts: Options): Promise<void> {
	connection?.close();
	connection = undefined;
	setState("status", "connecting", `connecting to ${relay.href}…`);
	if (!opts.webtransport) {
		// @moq/net uses WebTransport whenever the global exists; hiding it leaves WebSocket.
		(globalThis as { WebTransport?: unknown }).WebTransport = undefined;
	}
	try {
		const conn = await Moq.Connection.connect(relay, {
			websocket: { enabled: opts.websocket || !opts.webtransport },
			signal: AbortSignal.timeout(TIMEOUT_MS),
		});
		connection = conn;
		const status = element("status");
		status.dataset.transport = conn.transport;
		status.dataset.version = conn.version;
		setState("status", "connected", `connected: ${conn.version} over ${conn.transport}`);
		// A clean close resolves, an abrupt one rejects: the page says closed either way.
		const closed = (how: "clean" | "lost", why: string) => {
			if (connection !== conn) return;
			element("status").dataset.closed = how;
			setState("status", "closed", `connection closed${why}`);
		};
		conn.closed.then(
			() => closed("clean", ""),
			(err: unknown) => closed("lost", `: ${describe(err)}`),
		);
		void watchAnnounced(conn);
		if (opts.watch) {
			input("watch-broadcast").value = opts.watch;
			input("watch-track").value = opts.track;
			subscribe();
		}
	} catch (err) {
		setState("status", "error", `connect failed: ${describe(err)}`);
	}
}

/** Mirrors the relay's announcements into the list until the connection ends. */
async function watchAnnounced(conn: Moq.Connection.Established): Promise<void> {
	const list = element("announced");
	list.replaceChildren();
	const entries = new Map<string, HTMLLIElement>();
	const announced = conn.announced();
	for (;;) {
		const event = await announced.next();
		if (!event || connection !== conn) break;
		const path: string = event.path;
		entries.get(path)?.remove();
		entries.delete(path);
		if (!event.active) continue;
		const item = document.createElement("li");
		item.dataset.path = path;
		item.textContent = path;
		const watch = document.createElement("button");
		watch.textContent = "watch";
		watch.addEventListener("click", () => {
			input("watch-broadcast").value = path;
			subscribe();
		});
		item.append(watch);
		list.append(item);
		entries.set(path, item);
	}
	announced.close();
}

/** The live subscription on screen, closed when another one replaces it. */
let watching: Moq.Track.Subscriber | undefined;

function subscribe(): void {
	const conn = connection;
	const path = input("watch-broadcast").value.trim();
	const track = input("watch-track").value.trim();
	if (!conn || !path || !track) return;
	watching?.close();
	element("frames").replaceChildren();
	const count = element("frame-count");
	count.dataset.count = "0";
	count.textContent = "0 frames";
	const broadcast = conn.consume(Moq.Path.from(path));
	const subscriber = broadcast.subscribe(track);
	watching = subscriber;
	setState("watch-status", "subscribing", `subscribing to ${path} / ${track}…`);
	void (async () => {
		let frames = 0;
		try {
			for (;;) {
				const frame = await subscriber.readFrameSequence();
				if (!frame || watching !== subscriber) break;
				frames += 1;
				count.dataset.count = String(frames);
				count.dataset.group = String(frame.group);
				count.textContent = `${frames} frames, latest group ${frame.group}`;
				setState("watch-status", "live", `watching ${path} / ${track}`);
				log("frames", `group ${frame.group} · frame ${frame.frame} · ${show(frame.payload)}`);
			}
			if (watching === subscriber) setState("watch-status", "closed", "the track ended");
		} catch (err) {
			if (watching === subscriber) setState("watch-status", "error", `subscription failed: ${describe(err)}`);
		}
	})();
}

/** Reads one past group with a moq-lite FETCH and lists its frames. */
async function fetchGroup(): Promise<void> {
	const conn = connection;
	const path = input("watch-broadcast").value.trim();
	const track = input("watch-track").value.trim();
	const sequence = Number.parseInt(input("fetch-group").value, 10);
	if (!conn || !path || !track || !Number.isSafeInteger(sequence) || sequence < 0) return;
	element("fetched").replaceChildren();
	setState("fetch-status", "fetching", `fetching group ${sequence}…`);
	const timeout = new Promise<never>((_, reject) =>
		setTimeout(() => reject(new Error(`no answer in ${TIMEOUT_MS} ms`)), TIMEOUT_MS),
	);
	try {
		const broadcast = conn.consume(Moq.Path.from(path));
		const group = await Promise.race([broadcast.track(track).fetchGroup(sequence), timeout]);
		const lines: string[] = [];
		for (;;) {
			const frame = await Promise.race([group.readFrameSequence(), timeout]);
			if (!frame) break;
			lines.push(`group ${sequence} · frame ${frame.sequence} · ${show(frame.payload)}`);
		}
		for (const line of lines.reverse()) log("fetched", line, Number.MAX_SAFE_INTEGER);
		const status = element("fetch-status");
		status.dataset.group = String(sequence);
		status.dataset.frames = String(lines.length);
		setState("fetch-status", "done", `group ${sequence}: ${lines.length} frames`);
	} catch (err) {
		setState("fetch-status", "error", `fetch of group ${sequence} failed: ${describe(err)}`);
	}
}

/** The broadcast this page publishes, and its one track. */
let publishing: { broadcast: Moq.Broadcast.Producer; track: Moq.Track.Producer } | undefined;

function publish(): void {
	const conn = connection;
	const path = input("publish-broadcast").value.trim();
	const name = input("publish-track").value.trim();
	if (!conn || !path || !name) return;
	publishing?.broadcast.close();
	const broadcast = new Moq.Broadcast.Producer();
	const track = broadcast.createTrack(name);
	conn.publish(Moq.Path.from(path), broadcast);
	publishing = { broadcast, track };
	element<HTMLButtonElement>("send").disabled = false;
	setState("publish-status", "publishing", `publishing ${path} / ${name}`);
}

function send(): void {
	const text = input("publish-text").value;
	if (!publishing) return;
	// Each message is its own group of one frame.
	publishing.track.writeString(text);
	log("sent", text);
	const sent = element("sent");
	sent.dataset.count = String(Number(sent.dataset.count ?? "0") + 1);
}

function on(formId: string, action: () => unknown): void {
	element<HTMLFormElement>(formId).addEventListener("submit", (event) => {
		event.preventDefault();
		void action();
	});
}

input("relay").value = options.relay.href;
input("publish-broadcast").value = `web/${Math.random().toString(36).slice(2, 8)}`;
on("connect-form", () => connect(new URL(input("relay").value), options));
on("watch-form", subscribe);
on("fetch-form", fetchGroup);
on("publish-form", publish);
on("send-form", send);
void connect(options.relay, options);
