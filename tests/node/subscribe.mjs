// Subscribes to one track through a relay with @moq/net under Node.js, which has no
// WebTransport: the library connects over WebSocket (QMux), offering `qmux-0N.moq-lite-05`
// first. Prints one JSON line per group to stdout: {"version", "transport"} first, then
// {"group": sequence, "frames": [payload text…]}.
//
// Usage: node subscribe.mjs <relay URL> <broadcast> <track> <groups>
// Exits 0 after <groups> groups, 1 on an error, 2 after 20 s.

// The library logs with console.debug/log: keep stdout for the results.
const print = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);
console.log = console.info = console.debug = (...args) => console.error(...args);

// Node 20 has no WebSocket global (Node 22 does): @moq/net's documented polyfill is `ws`.
import WebSocket from "ws";

if (globalThis.WebSocket === undefined) {
	globalThis.WebSocket = WebSocket;
}
// Node 20 also lacks Promise.withResolvers (Node 22 has it), which @moq/net uses.
if (typeof Promise.withResolvers !== "function") {
	Promise.withResolvers = function withResolvers() {
		let resolve;
		let reject;
		const promise = new this((res, rej) => {
			resolve = res;
			reject = rej;
		});
		return { promise, resolve, reject };
	};
}
const Moq = await import("@moq/net");

const [url, name, trackName, count] = process.argv.slice(2);
if (count === undefined) {
	console.error("usage: node subscribe.mjs <relay URL> <broadcast> <track> <groups>");
	process.exit(1);
}

const deadline = setTimeout(() => {
	console.error("timed out");
	process.exit(2);
}, 20_000);

try {
	const connection = await Moq.Connection.connect(new URL(url));
	print({ version: connection.version, transport: connection.transport });
	const broadcast = connection.consume(Moq.Path.from(name));
	const track = broadcast.subscribe(trackName);
	for (let received = 0; received < Number(count); received++) {
		const group = await track.nextGroup();
		if (group === undefined) throw new Error("the track ended early");
		const frames = [];
		for (;;) {
			const frame = await group.readString();
			if (frame === undefined) break;
			frames.push(frame);
		}
		print({ group: group.sequence, frames });
	}
	clearTimeout(deadline);
	connection.close();
	process.exit(0);
} catch (err) {
	console.error("failed:", err);
	process.exit(1);
}
