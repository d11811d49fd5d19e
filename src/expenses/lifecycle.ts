/**
 * The expense lifecycle: its states, the moves between them, and what each
 * state means to the rest of the service. This is the only module that
 * compares state names; everything else asks it a question. Adding a state
 * is one edit to TRANSITIONS (and, if it changes what a step does, to the
 * sets below), plus its tests.
 *
 *   submitted ─approve→ approved ─export row written→ processing ─acknowledged→ exported
 *   processing|exported ─result→ posted|paid|rejected;  posted ─result→ paid|rejected
 *   rejected ─corrected, approved again→ approved (a new approval attempt, a new export row)
 *
 * A result implies its file was taken, so it may skip `exported`; `paid` is
 * final; a status never moves backwards.
 */
export const EXPENSE_STATES = ['submitted', 'approved', 'processing', 'exported', 'posted', 'paid', 'rejected'] as const;
export type ExpenseState = (typeof EXPENSE_STATES)[number];

/** The state a new expense starts in. */
export const INITIAL_STATE: ExpenseState = 'submitted';

/** Every allowed move, from → to. A move not listed here is refused. */
const TRANSITIONS: Readonly<Record<ExpenseState, readonly ExpenseState[]>> = {
  submitted: ['approved'],
  approved: ['processing'],
  processing: ['exported', 'posted', 'paid', 'rejected'],
  exported: ['posted', 'paid', 'rejected'],
  posted: ['paid', 'rejected'],
  paid: [],
  rejected: ['approved'],
};

/** States whose expense already has its export row for the current approval. */
const EXPORTED: ReadonlySet<ExpenseState> = new Set(['processing', 'exported', 'posted', 'paid', 'rejected']);

/** The statuses the payroll/ERP system reports back in a results file. */
export const RESULT_STATUSES = ['posted', 'paid', 'rejected'] as const satisfies readonly ExpenseState[];
export type ResultStatus = (typeof RESULT_STATUSES)[number];

/** States in which the expense's content may still be corrected (before approval, or after a rejection). */
const EDITABLE: ReadonlySet<ExpenseState> = new Set(['submitted', 'rejected']);

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

/**
 * The expense in state `to`, after the one check of the move. Every write of
 * a state goes through here (or `acknowledged`), never through a literal.
 */
export function moveTo<E extends { id: string; state: ExpenseState }>(expense: E, to: ExpenseState): E {
  checkTransition(expense.id, expense.state, to);
  return { ...expense, state: to };
}

/**
 * The expense once its export row is acknowledged: exported, through
 * processing when it is still approved (see takesAcknowledgement).
 */
export function acknowledged<E extends { id: string; state: ExpenseState }>(expense: E): E {
  return canTransition(expense.state, 'exported') ? moveTo(expense, 'exported') : moveTo(moveTo(expense, 'processing'), 'exported');
}

/**
 * What an approval request does in this state: approve (a first approval,
 * or a new attempt after a rejection), nothing (already approved: a retried
 * request), or refuse.
 */
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

/**
 * Whether an acknowledgement of its row moves the expense to `exported` (it may have moved on already,
 * e.g. on a result). Still `approved` means a consumer wrote the row and died before moving the expense
 * to processing; its message comes back only after the visibility timeout, by which time the file may
 * have been pulled and acknowledged. The acknowledged row proves the export, so the expense moves on
 * through processing to exported, and the message, when it comes back, finds it exported and moves nothing.
 */
export function takesAcknowledgement(state: ExpenseState): boolean {
  return canTransition(state, 'exported') || (canTransition(state, 'processing') && canTransition('processing', 'exported'));
}

/** The approval attempt an approval from this state starts: the first, or the next one after a rejection (its own export row). */
export function nextApprovalAttempt(state: ExpenseState, current: number | undefined): number {
  return state === 'rejected' ? (current ?? 1) + 1 : (current ?? 1);
}

/**
 * What a result line does to an expense in this state:
 * - noop: the expense is in that status already (the same result again: a re-sent file is harmless);
 * - apply: an allowed move;
 * - refuse: a move the lifecycle does not allow (backwards, from a final state, or not exported yet).
 */
export function resultDecision(state: ExpenseState, status: ResultStatus): 'noop' | 'apply' | 'refuse' {
  if (state === status) return 'noop';
  return canTransition(state, status) ? 'apply' : 'refuse';
}

export function isResultStatus(value: unknown): value is ResultStatus {
  return typeof value === 'string' && (RESULT_STATUSES as readonly string[]).includes(value);
}

/** Whether the expense's fields and items may be replaced (PUT /expenses/:id). */
export function isEditable(state: ExpenseState): boolean {
  return EDITABLE.has(state);
}

/** Approved and not yet exported: an approval message must still be (re)sent for it. */
export function awaitsExport(state: ExpenseState): boolean {
  return state === 'approved';
}

/** Exported for its current approval: its export row exists. */
export function hasExportRow(state: ExpenseState): boolean {
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
