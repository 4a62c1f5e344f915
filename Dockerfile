# The container the action runs in. Two stages: a Rust builder, then a small runtime image with only the binary,
# glibc and CA certificates. A release does not build this file on every workflow run: release.yml publishes the
# image to GHCR and points the released action.yml at it (`docker://...`), see docs/releasing.md.
#
# GitHub requires docker actions to run as the default Docker user (root) and says not to set USER: the action could
# then not access GITHUB_WORKSPACE, nor the files behind GITHUB_OUTPUT and GITHUB_STEP_SUMMARY. So there is
# deliberately no USER line.

FROM rust:1.95-slim-bookworm AS builder
WORKDIR /build

# Dependency layer: build every dependency against stub sources. This layer is rebuilt only when Cargo.toml or
# Cargo.lock change, not when our own code does. Every `path = "..."` target in Cargo.toml gets a stub, because
# cargo refuses a manifest whose declared targets are missing.
#
# The workspace's other member is the test bed (crates/fake-kubelet). Nothing of it is built or shipped here, but
# cargo cannot load the workspace (nor check Cargo.lock, which lists it) without its manifest, and a manifest needs
# a target: it gets an empty one, and its sources stay out of the build context.
COPY Cargo.toml Cargo.lock ./
COPY crates/fake-kubelet/Cargo.toml crates/fake-kubelet/
RUN set -eu; \
    for f in src/lib.rs crates/fake-kubelet/src/main.rs $(sed -n 's/^path *= *"\([^"]*\)".*/\1/p' Cargo.toml); do \
        mkdir -p "$(dirname "$f")"; \
        printf 'fn main() {}\n' > "$f"; \
    done; \
    cargo build --release --locked -p rolling-update-action --bin rolling-update; \
    rm -rf src

# Our code. COPY keeps the files' modification times, which can be older than the stub build: touch them so cargo
# rebuilds our crate instead of keeping the stub binary.
COPY src ./src
RUN find src -type f -exec touch {} + \
    && cargo build --release --locked -p rolling-update-action --bin rolling-update \
    && cp target/release/rolling-update /rolling-update

# Runtime: distroless "cc" is Debian 12 (the builder's glibc) with libgcc, CA certificates and nothing else: no shell,
# no package manager. Its default user is root, as GitHub requires. Distroless publishes only rolling tags
# (latest, nonroot, debug) and digests; `latest` is the root variant we need (pin a digest downstream if you must).
# hadolint ignore=DL3007
FROM gcr.io/distroless/cc-debian12:latest
LABEL org.opencontainers.image.title="rolling-update-action" \
      org.opencontainers.image.description="Rolls Kubernetes ReplicationControllers to new images with zero downtime and explains failures." \
      org.opencontainers.image.licenses="MIT"
COPY --from=builder /rolling-update /usr/local/bin/rolling-update
ENTRYPOINT ["/usr/local/bin/rolling-update"]
