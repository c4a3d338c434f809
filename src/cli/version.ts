// flatnet version: the build's version and the CNI versions it speaks.
import type { Argv } from 'yargs';
import { SUPPORTED_VERSIONS } from '../cni/version.ts';
import { VERSION } from '../version.ts';
import type { Command } from './command.ts';

export const versionText = (): string => `flatnet ${VERSION} (CNI ${SUPPORTED_VERSIONS.join(', ')})`;

export const versionCommand: Command<object> = {
  name: 'version',
  describe: 'print the version',
  options: (y: Argv) => y,
  async run() {
    process.stdout.write(`${versionText()}\n`);
    return 0;
  },
};
