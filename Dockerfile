# hmac-watchdog base image: a FROM scratch image holding only the static binary, at /fwatchdog
# (what every OpenFaaS template copies) and at /hmac-watchdog. Built with the same scripts the
# test suite runs (.ci/deps, .ci/fetch-httplib, .ci/build), and its unit tests run here too.
#   docker buildx build --platform linux/amd64,linux/arm64 -t hmac-watchdog .
# Each platform builds natively on its own debian:bookworm (emulated where BUILDPLATFORM
# differs), so OpenSSL's libcrypto.a and glibc match the target.
FROM debian:bookworm AS build
ARG TARGETPLATFORM
ARG BUILDPLATFORM
WORKDIR /src
COPY . .
RUN echo "building for ${TARGETPLATFORM:-native} on ${BUILDPLATFORM:-native}" \
 && .ci/deps \
 && .ci/fetch-httplib /src/build/deps/httplib \
 && .ci/build build/release -DCMAKE_BUILD_TYPE=Release -DHW_STATIC=ON -DHW_WERROR=ON \
 && (cd build/release && ctest -L unit --output-on-failure) \
 && strip -o /fwatchdog build/release/hmac-watchdog \
 && /fwatchdog --version

FROM scratch
COPY --from=build /fwatchdog /fwatchdog
COPY --from=build /fwatchdog /hmac-watchdog
EXPOSE 8080 8081
HEALTHCHECK --interval=3s CMD ["/fwatchdog", "--run-healthcheck"]
ENTRYPOINT ["/fwatchdog"]
