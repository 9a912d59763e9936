// `/about`: a second page under the same layout; navigating here and back keeps the connection.
export default function About() {
  return (
    <main>
      <h1>About</h1>
      <p id="about">
        The updates page listens on the channel <code>updates</code> through one connection that the layout holds.
      </p>
    </main>
  );
}
