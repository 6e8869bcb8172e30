// One error type for everything the user may see. Its message is one line
// that names the operation and the object (crun's style): "pull 127.0.0.1:5000/x:latest:
// manifest unknown (404)". Nothing else reaches the user as an error.

export interface ErrorContext {
  /** What glassbox was doing: 'pull', 'unpack', 'load', a stage id, ... */
  op: string;
  /** The thing it was done to: an image reference, a path, a digest. */
  subject?: string;
  /** errno name (EPERM) or HTTP-ish code (404) where one applies. */
  code?: string;
  cause?: unknown;
  /** The exit status the CLI should end with (default 1): docker's 125-127 where they apply. */
  exitCode?: number;
}

export class GlassboxError extends Error {
  readonly op: string;
  readonly subject?: string;
  readonly code?: string;
  readonly exitCode?: number;

  /** What went wrong, without the operation and subject. */
  readonly detail: string;

  /** The message is the whole line the user reads: "op subject: detail". */
  constructor(detail: string, ctx: ErrorContext) {
    const d = oneLine(detail);
    super(ctx.subject ? `${ctx.op} ${ctx.subject}: ${d}` : `${ctx.op}: ${d}`, ctx.cause === undefined ? undefined : { cause: ctx.cause });
    this.name = 'GlassboxError';
    this.detail = d;
    this.op = ctx.op;
    this.subject = ctx.subject;
    this.code = ctx.code;
    this.exitCode = ctx.exitCode;
  }

  /** The line the CLI prints. */
  line(): string {
    return this.message;
  }
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

export interface SystemErrorLike {
  code?: string;
  syscall?: string;
  path?: string;
  message?: string;
}

export function isSystemError(e: unknown): e is NodeJS.ErrnoException {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string';
}

/** errno name of a Node or addon system error, or undefined. */
export function errnoOf(e: unknown): string | undefined {
  return isSystemError(e) ? e.code : undefined;
}

/** Turn anything thrown into the one line a user reads. */
export function describe(e: unknown): string {
  if (e instanceof GlassboxError) return e.line();
  if (isSystemError(e)) {
    const se = e as SystemErrorLike;
    if (se.syscall) return `${se.syscall}${se.path ? ` ${se.path}` : ''}: ${se.code}`;
  }
  if (e instanceof Error) return oneLine(e.message);
  return oneLine(String(e));
}
