# Scimitar in a small runtime image, running as a non-root user.
#
#   docker build -t scimitar .
#   docker run -p 8080:8080 -v scimitar-data:/var/lib/scimitar scimitar
#
# SQLite by default, in the volume; set DATABASE_URL=postgres://… for PostgreSQL.

FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin scimitar

FROM debian:bookworm-slim
# libpq for PostgreSQL (SQLite is built in); the certificates for https webhooks.
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/scimitar --create-home scimitar
COPY --from=build /src/target/release/scimitar /usr/local/bin/scimitar
USER scimitar
WORKDIR /var/lib/scimitar
VOLUME /var/lib/scimitar
ENV DATABASE_URL=sqlite:///var/lib/scimitar/scimitar.db \
    SCIMITAR_LISTEN=0.0.0.0:8080 \
    SCIMITAR_LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s \
    CMD ["scimitar", "probe", "http://127.0.0.1:8080/readyz"]
ENTRYPOINT ["scimitar"]
CMD ["serve"]
