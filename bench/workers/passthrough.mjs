// Scenario A: the floor. Fetch the same path from the origin and return its answer unchanged.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    return fetch(env.ORIGIN + url.pathname + url.search);
  },
};
