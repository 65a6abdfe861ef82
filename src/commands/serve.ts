// `isoproxy serve`: placeholder until its issue lands.
export async function run(_argv: string[]): Promise<number> {
  console.error('isoproxy serve: not available yet');
  return 1;
}
