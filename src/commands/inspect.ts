// `isoproxy inspect`: placeholder until its issue lands.
export async function run(_argv: string[]): Promise<number> {
  console.error('isoproxy inspect: not available yet');
  return 1;
}
