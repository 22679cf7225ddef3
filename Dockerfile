# pacer in a container: one static-ish binary on a slim Debian base.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin pacer

FROM debian:bookworm-slim
RUN useradd --system --home /var/lib/pacer --create-home pacer
COPY --from=build /src/target/release/pacer /usr/local/bin/pacer
USER pacer
WORKDIR /var/lib/pacer
ENV PACER_LISTEN=0.0.0.0:3000
# pacer's allocator is mimalloc: give freed pages back at once and commit arenas as they are used
# (resident memory 454 → 413 MB on the full benchmark set, start to ready 198 → 111 ms;
# BENCHMARKS.md, "Load and soak").
ENV MIMALLOC_PURGE_DELAY=0 MIMALLOC_ARENA_EAGER_COMMIT=0
EXPOSE 3000
ENTRYPOINT ["pacer"]
CMD ["serve"]
