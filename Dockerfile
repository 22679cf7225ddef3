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
EXPOSE 3000
ENTRYPOINT ["pacer"]
CMD ["serve"]
