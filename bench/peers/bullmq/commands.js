// The built-in commands the benchmark uses, for every platform: /ping → pong,
// /echo <text> → <text>; anything else gets no reply.

/** The reply to a message's text (the platform's mention already removed), or null. */
export function commandReply(text) {
  const [command, ...rest] = text.trim().split(/\s+/);
  switch (command) {
    case '/ping':
      return 'pong';
    case '/echo':
      return rest.join(' ') || null;
    default:
      return null;
  }
}
