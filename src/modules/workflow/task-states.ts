/** The workflow's vocabulary (SPEC §4): task states, open assignment statuses and assignment kinds. */
export const TASK_STATES = ['new', 'in_progress', 'completed', 'delivered', 'acknowledged', 'rejected'] as const;
export type TaskState = (typeof TASK_STATES)[number];
export const OPEN_ASSIGNMENT_STATUSES = ['assigned', 'saved', 'pending_finalization', 'skipped', 'issue'] as const;
export const ASSIGNMENT_KINDS = ['auto', 'manual', 'preassign', 'reserved', 'returned'] as const;
export type AssignmentKind = (typeof ASSIGNMENT_KINDS)[number];
