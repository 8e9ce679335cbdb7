// Page options, read from the query string so a test (or a person) can pick the relay and
// the transports without rebuilding the page.
//
//   ?relay=URL        the relay to connect to; default: the origin that served the page
//                     (`http://host:port/`, so @moq/net fetches /certificate.sha256 there
//                     and pins it for WebTransport)
//   ?websocket=1      allow @moq/net's WebSocket fallback (raced 500 ms after WebTransport);
//                     default off
//   ?webtransport=0   do not use WebTransport at all (WebSocket only; implies websocket=1)
//   ?watch=PATH       subscribe to this broadcast once connected
//   ?track=NAME       the track to watch (default `data`)

/** What the query string asks for. */
export interface Options {
	relay: URL;
	websocket: boolean;
	webtransport: boolean;
	watch: string | undefined;
	track: string;
}

function flag(params: URLSearchParams, name: string, fallback: boolean): boolean {
	const value = params.get(name);
	if (value === null) return fallback;
	return !["0", "false", "no", "off"].includes(value.toLowerCase());
}

/** The `relay` option as a URL; the page's origin when it is absent or not a URL. */
function relayUrl(value: string | null, origin: string): URL {
	try {
		return new URL(value ?? `${origin}/`);
	} catch {
		return new URL(`${origin}/`);
	}
}

/** Parses `search` (a `location.search`), defaulting the relay to `origin`. */
export function parseOptions(search: string, origin: string): Options {
	const params = new URLSearchParams(search);
	const webtransport = flag(params, "webtransport", true);
	return {
		relay: relayUrl(params.get("relay"), origin),
		websocket: flag(params, "websocket", !webtransport),
		webtransport,
		watch: params.get("watch") ?? undefined,
		track: params.get("track") ?? "data",
	};
}
