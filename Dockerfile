# The gateway as a container: a static binary on distroless, run as a
# non-root user, with its database and intake journal in /data.
#
#   docker build -t liaison .
#   docker run -v liaison-data:/data -v ./liaison.yaml:/etc/liaison/liaison.yaml:ro \
#     --env-file liaison.env -p 8080:8080 liaison
#
# In the config: store: sqlite:///data/liaison.db (or PostgreSQL).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/liaisonhq/liaison/internal/cli.version=${VERSION}" -o /out/liaison ./cmd/liaison \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/liaison /liaison
COPY --from=build --chown=nonroot:nonroot /out/data /data
USER nonroot:nonroot
VOLUME /data
WORKDIR /data
EXPOSE 8080
ENTRYPOINT ["/liaison"]
CMD ["serve", "--config", "/etc/liaison/liaison.yaml"]
