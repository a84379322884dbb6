# The kubeup installer image: one statically linked binary and nothing else, so it builds with
# no registry (no base image is pulled). Build it with scripts/build-image, which compiles the
# static binary and uses a build context holding only that binary.
FROM scratch
COPY kubeup /kubeup
ENV KUBEUP_HOST_ROOT=/host
ENTRYPOINT ["/kubeup"]
