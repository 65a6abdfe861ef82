// Which Ironic provision states a node is served in by default. (Findings below are filled in
// from Ironic's code and from the harness; see docs/ironic.md.)

export const DEFAULT_PROVISION_STATES: readonly string[] = ['deploying', 'wait call-back', 'active'];
