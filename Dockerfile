# syntax=docker/dockerfile:1

# Gatehouse container image.
#
#   docker build -t gatehouse .
#   docker run --rm -p 8080:8080 -e DATABASE_URL=postgres://user:pass@host:5432/gatehouse gatehouse
#
# Two stages: the official Rust image builds a stripped release binary, and a
# debian:bookworm-slim stage runs it as a non-root user. Both stages use the same
# Debian release, so the glibc the binary was linked against is the one it runs on.
# For reproducible production builds, pin both base images by digest
# (e.g. `--build-arg RUST_VERSION=1.95` plus `FROM image:tag@sha256:...`).

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

# --------------------------------------------------------------------------- builder
FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS builder

WORKDIR /build

# - Strip all symbols from the image's binary (Cargo.toml only strips debuginfo, which
#   suits local builds). Panic messages keep their file:line; backtraces lose names.
# - No incremental compilation: it only costs time and space in a one-shot build.
# Set before the dependency build: the profile is part of every crate's fingerprint,
# so the same values must be in force in both `cargo build` runs below.
# - SQLX_OFFLINE: the sqlx macros check queries against the committed .sqlx/ data, not
#   a database (there is none in the build).
ENV CARGO_PROFILE_RELEASE_STRIP=symbols \
    CARGO_INCREMENTAL=0 \
    CARGO_TERM_COLOR=never \
    SQLX_OFFLINE=true

# Dependency cache, with plain image layers (works with any builder, and with
# `--cache-from`/`--cache-to` registry caches in CI, unlike BuildKit cache mounts):
# build every dependency against a dummy crate made of Cargo.toml + Cargo.lock alone.
# This layer is rebuilt only when the manifest or the lock file changes; a change to
# src/, migrations/ or data/ reuses it and compiles just the gatehouse crate.
# The workspace also has the load benchmark (bench/): only its manifest comes in, with an
# empty main, and only the service is built.
COPY Cargo.toml Cargo.lock ./
COPY bench/Cargo.toml ./bench/
RUN mkdir src bench/src \
    && echo 'fn main() {}' > src/main.rs \
    && echo 'fn main() {}' > bench/src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked -p gatehouse \
    && rm -rf src

# The real sources, and the files compiled into the binary: migrations/ (embedded by
# `sqlx::migrate!`), data/ (the common-password list, `include_str!`'d) and .sqlx/ (the
# checked queries' data, read by the sqlx macros).
# Anything else the build should see must also be allowed in .dockerignore.
COPY src ./src
COPY migrations ./migrations
COPY data ./data
COPY .sqlx ./.sqlx

# `touch`: COPY keeps the files' original modification times, which may be older than
# the dummy build above; without it Cargo could judge the dummy crate up to date.
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked -p gatehouse \
    && install -m 0755 target/release/gatehouse /usr/local/bin/gatehouse \
    && /usr/local/bin/gatehouse --version

# --------------------------------------------------------------------------- runtime
# debian:bookworm-slim rather than distroless: it has bash, which the HEALTHCHECK
# below needs, and nothing is installed on top of it (no curl: the check speaks HTTP
# through bash's /dev/tcp). The binary needs only glibc and libgcc_s, both in the base;
# TLS is rustls with bundled web PKI roots, so no OpenSSL and no ca-certificates.
FROM debian:${DEBIAN_RELEASE}-slim AS runtime

LABEL org.opencontainers.image.title="gatehouse" \
      org.opencontainers.image.description="User-management service: registration, JWT authentication, profiles, RBAC, administration, audit trail and rate limiting" \
      org.opencontainers.image.licenses="MIT"

# A fixed, numeric, unprivileged uid/gid (10001), so that runtimes can check
# `runAsNonRoot` and mounted secrets can be made readable to it.
RUN groupadd --system --gid 10001 gatehouse \
    && useradd --system --uid 10001 --gid gatehouse \
       --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin gatehouse

COPY --from=builder /usr/local/bin/gatehouse /usr/local/bin/gatehouse

USER 10001:10001

# Listen on every interface inside the container; log one JSON object per line.
# The service writes no files: the root filesystem can be mounted read-only.
ENV BIND_ADDR=0.0.0.0:8080 \
    LOG_FORMAT=json

EXPOSE 8080

# Liveness: GET /health/live through bash's /dev/tcp, healthy on a 200 status line
# (exit 1 on any failure, as Docker expects; a 4 s read timeout inside the 5 s budget).
# The port is taken from BIND_ADDR at run time, so overriding BIND_ADDR keeps the check
# working (as long as the service listens on 127.0.0.1 or on all interfaces).
# The service only starts listening once its database is migrated, so a first healthy
# result also means the start-up succeeded. /health/ready (503 while the database is
# down) is deliberately not used: restarting the service would not bring the database back.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["bash", "-c", "exec 3<>\"/dev/tcp/127.0.0.1/${BIND_ADDR##*:}\" && printf 'GET /health/live HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && read -r -t 4 _ status _ <&3 && [[ $status == 200 ]] || exit 1"]

# The service handles SIGTERM itself (graceful drain, at most SHUTDOWN_TIMEOUT seconds,
# 30 by default: give `docker stop` a longer timeout than that) and starts no child
# processes, so it runs directly as PID 1 without an init.
ENTRYPOINT ["/usr/local/bin/gatehouse"]
CMD ["serve"]
