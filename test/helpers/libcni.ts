// libcni-driver for the tests; see scripts/libcni.mjs.
// @ts-expect-error: plain JS module shared with the scripts
export { libcniDriver } from '../../scripts/libcni.mjs';
