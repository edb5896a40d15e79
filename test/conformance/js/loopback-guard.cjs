// Preloaded (node --require) by the conformance suite: refuses any TCP
// connection to a host other than loopback, so that a misconfigured client
// fails loudly instead of reaching 169.254.169.254 or a real AWS endpoint.
// The JS SDK ignores HTTP(S)_PROXY, which guards the other clients.
"use strict";
const net = require("node:net");

const loopback = (host) =>
  host === undefined || host === "localhost" || host === "::1" || /^127\./.test(host);

const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  let opts = args[0];
  if (Array.isArray(opts)) opts = opts[0]; // internal normalized form
  let host;
  if (opts !== null && typeof opts === "object") {
    host = opts.path !== undefined ? "localhost" : opts.host;
  } else if (typeof opts === "number" || typeof opts === "string") {
    host = typeof args[1] === "string" ? args[1] : undefined;
  }
  if (!loopback(host)) {
    const err = new Error(`loopback-guard: refused connection to non-loopback host ${host}`);
    process.nextTick(() => this.destroy(err));
    return this;
  }
  return connect.apply(this, args);
};
