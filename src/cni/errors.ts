// The CNI error object (SPEC §6) and its well-known codes. Every failure a user
// can hit is turned into one of these in one place (toCniError), so the exit
// path of a plugin never prints anything but {code,msg,details}.
import { InvalidInputError } from '../input-error.ts';

export const ErrorCode = {
  Unknown: 0,
  IncompatibleCniVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironmentVariables: 4,
  IoFailure: 5,
  DecodingFailure: 6,
  InvalidNetworkConfig: 7,
  InvalidNetNS: 8,
  TryAgainLater: 11,
  NotAvailable: 50,
  LimitedConnectivity: 51,
  // Plugin-specific codes (100+): the spec reserves 0-99, and runtimes only
  // relay these, so they exist to let a person grep the troubleshooting table.
  NoAddressesAvailable: 100,
  AddressUnavailable: 101,
  DuplicateAllocation: 102,
  InterfaceExists: 103,
  Internal: 999,
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

export class CniError extends Error {
  readonly code: number;
  readonly details: string;

  constructor(code: number, msg: string, details = '') {
    super(msg);
    this.name = 'CniError';
    this.code = code;
    this.details = details;
  }

  // Go prints {code,msg[,details]}: the same keys, so scripts that parse Go's
  // errors parse ours.
  toJSON(): { code: number; msg: string; details?: string } {
    return this.details ? { code: this.code, msg: this.message, details: this.details } : { code: this.code, msg: this.message };
  }
}

/** Any thrown value becomes a CniError; foreign errors are internal (999), as in Go's skel. */
export function toCniError(err: unknown): CniError {
  if (err instanceof CniError) return err;
  if (err instanceof Error) {
    const errno = (err as NodeJS.ErrnoException).code;
    if (errno === 'ENOSPC' || errno === 'EROFS' || errno === 'EIO' || errno === 'EDQUOT') {
      return new CniError(ErrorCode.IoFailure, `${err.message}: free space or make the data directory writable, then retry`);
    }
    return new CniError(ErrorCode.Internal, err.message);
  }
  return new CniError(ErrorCode.Internal, String(err));
}

export const configError = (msg: string, details = ''): CniError => new CniError(ErrorCode.InvalidNetworkConfig, msg, details);

/**
 * Runs a step of a layer that knows no CNI codes (names, namespaces) and
 * answers the input it refuses (InvalidInputError) with `code`.
 */
export function answerAs<T>(code: number, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof InvalidInputError) throw new CniError(code, e.message, e.details);
    throw e;
  }
}
