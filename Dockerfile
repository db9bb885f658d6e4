# Multi-stage build: a release binary on a small Debian runtime, running as non-root.
#   docker build -t concur-connector .
#   docker run -p 443:8443 \
#     -v /etc/concur-connector:/etc/concur-connector:ro \
#     -v /etc/letsencrypt:/etc/letsencrypt:ro \
#     -v concur-connector-state:/var/lib/concur-connector/state \
#     concur-connector
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY config config
COPY templates templates
# The workspace's member crates (the wire formats the connector links).
COPY crates crates
# Without the default `simulator` feature: the image holds no simulator code.
RUN cargo build --release --locked --no-default-features --bin concur-connector

FROM debian:bookworm-slim
# ca-certificates: Concur's API certificates are verified against the system roots.
# curl: the HEALTHCHECK below.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/concur-connector connector \
    && mkdir -p /etc/concur-connector/certs /var/lib/concur-connector/state \
    && chown -R connector:connector /var/lib/concur-connector
COPY --from=build /src/target/release/concur-connector /usr/local/bin/concur-connector
COPY config/example.toml /etc/concur-connector/example.toml
USER connector
WORKDIR /var/lib/concur-connector
# The image never runs on the development defaults: without /etc/concur-connector/config.toml
# `serve` exits 2 (`--config: ... does not exist`), and should the variable be cleared, the
# embedded development profile refuses the public bind address below (exit 2, `server.bind`).
ENV CONCUR_CONNECTOR_CONFIG=/etc/concur-connector/config.toml \
    CONCUR_CONNECTOR__SERVER__BIND=0.0.0.0:8443
VOLUME ["/etc/concur-connector", "/var/lib/concur-connector/state"]
EXPOSE 8443
# -k: the certificate names the public host name, not localhost; this only checks liveness.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD curl -fsSk https://localhost:8443/healthz || exit 1
ENTRYPOINT ["concur-connector"]
CMD ["serve"]
