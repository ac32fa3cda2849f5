# syntax=docker/dockerfile:1
#
# huaweicloud-exporter container image.
#
#   docker build --build-arg REVISION="$(git rev-parse --short=12 HEAD)" -t huaweicloud-exporter .
#   docker run -p 10071:10071 huaweicloud-exporter --demo
#   docker run -p 10071:10071 -e HWC_PASSWORD \
#     -v "$PWD/config.yaml:/etc/huaweicloud-exporter/config.yaml:ro" huaweicloud-exporter
#
# The configuration is read from /etc/huaweicloud-exporter/config.yaml (mount it, or a
# ConfigMap, there). Secrets come from environment variables or files the config names
# (`${HWC_PASSWORD}`, `secret_key_file: /run/secrets/...`), never from the image.
# The image runs as the distroless `nonroot` user (65532) and needs no writable path.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS builder
# The git revision for huaweicloud_exporter_build_info and --version: .git is not in the build
# context, so it is passed in (empty: "unknown").
ARG REVISION=""
WORKDIR /src
COPY . .
# The cache mounts keep the registry and build artefacts between builds; the binary is
# copied out of the cached target dir so the next stage can see it. The release profile strips
# debug info (Cargo.toml), so the image carries a 17.7 MB binary, not 75 MB.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    HUAWEICLOUD_EXPORTER_REVISION="${REVISION}" \
    cargo build --release --locked --bin huaweicloud-exporter \
    && install -D -m 0755 target/release/huaweicloud-exporter /out/huaweicloud-exporter

FROM gcr.io/distroless/cc-debian12:nonroot
ARG REVISION=""
LABEL org.opencontainers.image.title="huaweicloud-exporter" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.description="Prometheus exporter for Huawei Cloud management-plane state: DCS, KooPhone, DDM" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/huaweicloud-exporter /usr/local/bin/huaweicloud-exporter
WORKDIR /etc/huaweicloud-exporter
USER 65532:65532
EXPOSE 10071
ENTRYPOINT ["/usr/local/bin/huaweicloud-exporter"]
CMD ["--config.file=/etc/huaweicloud-exporter/config.yaml", "--web.listen-address=:10071"]
