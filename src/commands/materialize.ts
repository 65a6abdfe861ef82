// `isoproxy materialize`: placeholder until its issue lands.
export async function run(_argv: string[]): Promise<number> {
  console.error('isoproxy materialize: not available yet');
  return 1;
}
