/**
 * The expense lifecycle: its states, the moves between them, and what each
 * state means to the rest of the service. This is the only module that
 * compares state names; everything else asks it a question. Adding a state
 * is one edit to TRANSITIONS (and, if it changes what a step does, to the
 * sets below), plus its tests.
 *
 *   submitted ─approve→ approved ─export row written→ processing ─acknowledged→ exported
 */
export const EXPENSE_STATES = ['submitted', 'approved', 'processing', 'exported'] as const;
export type ExpenseState = (typeof EXPENSE_STATES)[number];

/** The state a new expense starts in. */
export const INITIAL_STATE: ExpenseState = 'submitted';

/** Every allowed move, from → to. A move not listed here is refused. */
const TRANSITIONS: Readonly<Record<ExpenseState, readonly ExpenseState[]>> = {
  submitted: ['approved'],
  approved: ['processing'],
  processing: ['exported'],
  exported: [],
};

/** States whose expense already has its export row for the current approval. */
const EXPORTED: ReadonlySet<ExpenseState> = new Set(['processing', 'exported']);

export function isExpenseState(value: unknown): value is ExpenseState {
  return typeof value === 'string' && (EXPENSE_STATES as readonly string[]).includes(value);
}

export function canTransition(from: ExpenseState, to: ExpenseState): boolean {
  return TRANSITIONS[from].includes(to);
}

/** The one check of a move: throws TransitionRefusedError when `from → to` is not allowed. */
export function checkTransition(id: string, from: ExpenseState, to: ExpenseState): void {
  if (!canTransition(from, to)) throw new TransitionRefusedError(id, from, to);
}

/** What an approval request does in this state: approve, nothing (already approved: a retried request), or refuse. */
export function approvalDecision(state: ExpenseState): 'approve' | 'already-approved' | 'refuse' {
  if (state === 'approved') return 'already-approved';
  return canTransition(state, 'approved') ? 'approve' : 'refuse';
}

/**
 * What the consumer does with an approval message for an expense in this state:
 * - wait: not approved (yet): the message may have overtaken the approval's save, so retry later;
 * - export: write the export row, then move to processing;
 * - ensure-row: exported already; write the row again (a no-op when it is there) and move nothing.
 */
export function exportDecision(state: ExpenseState): 'wait' | 'export' | 'ensure-row' {
  if (canTransition(state, 'processing')) return 'export';
  return EXPORTED.has(state) ? 'ensure-row' : 'wait';
}

/** Whether an expense in this state has its export row, or is approved and on its way to one (what the outbox sweeper and re-export act on). */
export function isApprovedOrExported(state: ExpenseState): boolean {
  return state === 'approved' || EXPORTED.has(state);
}

/** Whether an acknowledgement of its row moves the expense to `exported` (it may have moved on already, e.g. on a result). */
export function takesAcknowledgement(state: ExpenseState): boolean {
  return canTransition(state, 'exported');
}

/** Approved and not yet exported: an approval message must still be (re)sent for it. */
export function awaitsExport(state: ExpenseState): boolean {
  return state === 'approved';
}

/** Exported for its current approval: its export row exists. */
export function isExported(state: ExpenseState): boolean {
  return EXPORTED.has(state);
}

/** The domain's refusal of a move; the HTTP layer turns it into a 409. */
export class TransitionRefusedError extends Error {
  override name = 'TransitionRefusedError';
  constructor(
    readonly expenseId: string,
    readonly from: ExpenseState,
    readonly to: ExpenseState,
  ) {
    super(`Expense ${expenseId} is ${from} and cannot become ${to}.`);
  }
}
