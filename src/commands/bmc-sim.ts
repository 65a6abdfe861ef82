// `isoproxy bmc-sim`: placeholder until its issue lands.
export async function run(_argv: string[]): Promise<number> {
  console.error('isoproxy bmc-sim: not available yet');
  return 1;
}
