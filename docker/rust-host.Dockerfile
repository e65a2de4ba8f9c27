# TEST ONLY: a stand-in for the official `rust:1-bookworm` image on machines that reach
# Debian's mirror and crates.io but neither Docker Hub nor the rustup servers. It is
# Debian bookworm plus the Rust toolchain of the machine that builds it, copied from the
# build context (docker/verify.sh lays it out: toolchain/{bin,lib,libexec} = one rustup
# toolchain without its docs; ca-certificates/ = the host's extra CA certificates from
# /usr/local/share/ca-certificates, possibly none, for a machine whose HTTPS goes through
# an inspecting proxy: cargo must trust what the host trusts to reach crates.io).
# Releases are built from the official image instead.
#
#   docker build -f docker/rust-host.Dockerfile -t rvs-local/rust:bookworm <context>
#   docker build -f docker/Dockerfile --build-arg RUST_IMAGE=rvs-local/rust:bookworm ...
ARG BASE_IMAGE=debian:bookworm
FROM ${BASE_IMAGE}
# What the official image brings besides Rust: a C toolchain, git, CA certificates.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates build-essential git \
 && rm -rf /var/lib/apt/lists/*
COPY ca-certificates/ /usr/local/share/ca-certificates/
RUN update-ca-certificates
COPY toolchain/ /usr/local/rust/
ENV CARGO_HOME=/usr/local/cargo \
    PATH=/usr/local/cargo/bin:/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN rustc --version && cargo --version
