import {
  acknowledged,
  approvalDecision,
  canTransition,
  checkTransition,
  EXPENSE_STATES,
  exportDecision,
  isEditable,
  moveTo,
  nextApprovalAttempt,
  resultDecision,
  RESULT_STATUSES,
  takesAcknowledgement,
  TransitionRefusedError,
  type ExpenseState,
} from '../../src/expenses/lifecycle';

/** The lifecycle as the docs draw it, written out here independently of TRANSITIONS: every allowed move. */
const ALLOWED: ReadonlyArray<[ExpenseState, ExpenseState]> = [
  ['submitted', 'approved'],
  ['approved', 'processing'],
  ['processing', 'exported'],
  ['processing', 'posted'],
  ['processing', 'paid'],
  ['processing', 'rejected'],
  ['exported', 'posted'],
  ['exported', 'paid'],
  ['exported', 'rejected'],
  ['posted', 'paid'],
  ['posted', 'rejected'],
  ['rejected', 'approved'],
];
const allowed = (from: ExpenseState, to: ExpenseState) => ALLOWED.some(([f, t]) => f === from && t === to);
const EVERY_MOVE = EXPENSE_STATES.flatMap((from) => EXPENSE_STATES.map((to) => ({ from, to, ok: allowed(from, to) })));

describe('lifecycle: every from → to', () => {
  test('the table covers all 49 pairs, 12 of them allowed', () => {
    expect(EVERY_MOVE).toHaveLength(49);
    expect(EVERY_MOVE.filter((m) => m.ok)).toHaveLength(12);
  });

  test.each(EVERY_MOVE)('$from → $to: allowed $ok', ({ from, to, ok }) => {
    expect(canTransition(from, to)).toBe(ok);
    const expense = { id: 'e-1', state: from, employee: 'kept' };
    if (ok) {
      expect(() => checkTransition('e-1', from, to)).not.toThrow();
      expect(moveTo(expense, to)).toEqual({ id: 'e-1', state: to, employee: 'kept' });
    } else {
      expect(() => checkTransition('e-1', from, to)).toThrow(TransitionRefusedError);
      expect(() => moveTo(expense, to)).toThrow(expect.objectContaining({ name: 'TransitionRefusedError', expenseId: 'e-1', from, to }));
    }
    expect(expense.state).toBe(from); // moveTo returns a new expense; the one read stays as it was
  });
});

describe('lifecycle: what each step does in each state', () => {
  const table: Array<{
    state: ExpenseState;
    approval: ReturnType<typeof approvalDecision>;
    exporting: ReturnType<typeof exportDecision>;
    ack: boolean;
    editable: boolean;
  }> = [
    { state: 'submitted', approval: 'approve', exporting: 'wait', ack: false, editable: true },
    { state: 'approved', approval: 'already-approved', exporting: 'export', ack: true, editable: false },
    { state: 'processing', approval: 'refuse', exporting: 'ensure-row', ack: true, editable: false },
    { state: 'exported', approval: 'refuse', exporting: 'ensure-row', ack: false, editable: false },
    { state: 'posted', approval: 'refuse', exporting: 'ensure-row', ack: false, editable: false },
    { state: 'paid', approval: 'refuse', exporting: 'ensure-row', ack: false, editable: false },
    { state: 'rejected', approval: 'approve', exporting: 'ensure-row', ack: false, editable: true },
  ];

  test('the table covers every state', () => expect(table.map((r) => r.state)).toEqual([...EXPENSE_STATES]));

  test.each(table)('$state', ({ state, approval, exporting, ack, editable }) => {
    expect(approvalDecision(state)).toBe(approval);
    expect(exportDecision(state)).toBe(exporting);
    expect(takesAcknowledgement(state)).toBe(ack);
    expect(isEditable(state)).toBe(editable);
  });

  test.each(['approved', 'processing'] as const)('an acknowledgement moves a %s expense to exported', (state) => {
    expect(acknowledged({ id: 'e-1', state }).state).toBe('exported');
  });

  test.each(['submitted', 'exported', 'posted', 'paid', 'rejected'] as const)('an acknowledgement of a %s expense is refused', (state) => {
    expect(() => acknowledged({ id: 'e-1', state })).toThrow(TransitionRefusedError);
  });

  test.each(EXPENSE_STATES.flatMap((state) => RESULT_STATUSES.map((status) => ({ state, status }))))(
    'result $status on a $state expense',
    ({ state, status }) => {
      const expected = state === status ? 'noop' : allowed(state, status) ? 'apply' : 'refuse';
      expect(resultDecision(state, status)).toBe(expected);
    },
  );

  test.each([
    { state: 'submitted' as const, current: undefined, next: 1 },
    { state: 'submitted' as const, current: 1, next: 1 },
    { state: 'rejected' as const, current: undefined, next: 2 },
    { state: 'rejected' as const, current: 2, next: 3 },
  ])('approving a $state expense at attempt $current starts attempt $next', ({ state, current, next }) => {
    expect(nextApprovalAttempt(state, current)).toBe(next);
  });
});
