// The base error of every Valet error: a stable machine-readable code, a message for people, and
// (where it crosses HTTP) a status. Codes are listed in src/platform/codes.ts and documented there.
export class ValetError extends Error {
  override name = 'ValetError';
  readonly code: string;
  readonly httpStatus: number;

  constructor(code: string, message: string, httpStatus = 500, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.httpStatus = httpStatus;
  }
}
