# The kubeup installer image: one statically linked binary and nothing else, so it builds with no
# registry (no base image is pulled). Build the binary first:
#   rustup target add x86_64-unknown-linux-musl && apt-get install musl-tools
#   cargo build --release --target x86_64-unknown-linux-musl
#   docker build -t kubeup .
FROM scratch
COPY target/x86_64-unknown-linux-musl/release/kubeup /kubeup
ENV KUBEUP_HOST_ROOT=/host
ENTRYPOINT ["/kubeup"]
