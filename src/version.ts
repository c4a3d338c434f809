// Injected at build time by scripts/build.mjs; "dev" when run from source.
declare const FLATNET_VERSION: string | undefined;
export const VERSION: string = typeof FLATNET_VERSION === 'string' ? FLATNET_VERSION : '0.1.0-dev';
