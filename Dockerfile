# hmac-watchdog base image: a FROM scratch image holding only the static binary, at /fwatchdog
# (what every OpenFaaS template copies) and at /hmac-watchdog, and an empty /tmp. Built with the
# same scripts the test suite runs (.ci/deps, .ci/fetch-httplib, .ci/build); its unit tests run
# here too. Templates use it as `FROM ${WATCHDOG_IMAGE} AS watchdog` (see templates/README.md).
#
#   docker buildx build --platform linux/amd64,linux/arm64 -t hmac-watchdog .
#   podman build --format docker -t hmac-watchdog .
#
# Each platform builds natively on its own debian:bookworm (emulated where BUILDPLATFORM
# differs), so OpenSSL's libcrypto.a and glibc match the target. Under emulation the unit tests
# that qemu-user itself cannot run (tests/arm64/qemu-known-failures.txt, with the reasons) are
# skipped, and qemu must be newer than 7.2 (7.2 refuses PR_SET_CHILD_SUBREAPER, which the
# watchdog needs; 10.0 checked). tests/arm64/run.sh proves the arm64 build by cross-compiling and running
# the binary and its unit tests under qemu.
#
# BUILD_FROM=binary skips the compile and packs a hmac-watchdog binary found at the root of the
# build context instead (tests/container/ does that with the binary the test suite has just
# tested; HW_CONTAINER_FROM_SOURCE=1 makes it build from source, as above).
ARG BUILD_FROM=source

FROM debian:bookworm AS build-source
ARG TARGETPLATFORM
ARG BUILDPLATFORM
WORKDIR /src
COPY . .
RUN echo "building for ${TARGETPLATFORM:-native} on ${BUILDPLATFORM:-native}" \
 && .ci/deps \
 && .ci/fetch-httplib /src/build/deps/httplib \
 && .ci/build build/release -DCMAKE_BUILD_TYPE=Release -DHW_STATIC=ON -DHW_WERROR=ON \
 && skip="" \
 && if [ -n "${TARGETPLATFORM}" ] && [ "${TARGETPLATFORM}" != "${BUILDPLATFORM}" ]; then \
      skip=$(grep -v '^#' tests/arm64/qemu-known-failures.txt | sed '/^$/d' | paste -sd'|'); \
      echo "emulated build: skipping the unit tests qemu-user cannot run (tests/arm64/qemu-known-failures.txt)"; \
    fi \
 && (cd build/release && ctest -L unit --output-on-failure ${skip:+-E "$skip"}) \
 && strip -o /fwatchdog build/release/hmac-watchdog

FROM debian:bookworm AS build-binary
COPY hmac-watchdog /fwatchdog

FROM build-${BUILD_FROM} AS build
# What the scratch image holds: the binary under both names, and a world-writable /tmp for the
# lock file (TMPDIR), so the image also runs on its own and as any user.
RUN /fwatchdog --version \
 && mkdir -p /image/tmp \
 && chmod 1777 /image/tmp \
 && cp /fwatchdog /image/fwatchdog \
 && cp /fwatchdog /image/hmac-watchdog

FROM scratch
COPY --from=build /image/ /
EXPOSE 8080 8081
HEALTHCHECK --interval=3s CMD ["/fwatchdog", "--run-healthcheck"]
ENTRYPOINT ["/fwatchdog"]
