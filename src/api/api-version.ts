/** The Docker Engine API version berth speaks, and the oldest a client may ask for (dockerd 25+ says 1.24). */
export const API_VERSION = '1.43';
export const API_MIN_VERSION = '1.24';
