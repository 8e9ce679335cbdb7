# syntax=docker/dockerfile:1
# moql-relay and the moql CLI in a small, non-root runtime image, with the web page.
#   docker build -t moql-relay .
#   docker run --rm -p 4443:4443/udp -p 4443:4443/tcp moql-relay
# The relay reads /etc/moql/relay.toml (dist/relay.toml; mount your own over it) and serves
# the web page from /usr/local/share/moql/web.

# The web page (type check + Vite build), pinned by web/package-lock.json.
FROM node:22-trixie-slim AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

# The binaries, with the toolchain rust-toolchain.toml pins and the locked dependencies.
FROM rust:1.95.0-slim-trixie AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p moql-relay -p moql-cli \
    && cp target/release/moql-relay target/release/moql /usr/local/bin/

FROM debian:trixie-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/cache/moql-relay --create-home moql
COPY --from=build /usr/local/bin/moql-relay /usr/local/bin/moql /usr/local/bin/
COPY --from=web /src/web/dist /usr/local/share/moql/web
COPY dist/relay.toml /etc/moql/relay.toml
COPY LICENSE-MIT LICENSE-APACHE /usr/local/share/doc/moql/
USER moql
WORKDIR /var/cache/moql-relay
EXPOSE 4443/udp 4443/tcp
ENTRYPOINT ["/usr/local/bin/moql-relay"]
CMD ["--config", "/etc/moql/relay.toml", "--web-root", "/usr/local/share/moql/web"]
